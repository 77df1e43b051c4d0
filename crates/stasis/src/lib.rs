//! stasis: checkpoint and restore of Linux processes. This crate is the engine;
//! the `stasis` binary (crates/cli) is a thin layer over [`dump::dump`] and
//! [`restore::restore`].

pub mod check;
pub mod dump;
pub mod files;
pub mod inject;
pub mod mem;
pub mod proc;
pub mod restore;
pub mod sys;
pub mod tree;
