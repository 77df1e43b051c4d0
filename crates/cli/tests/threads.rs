//! End-to-end tests of multi-threaded processes: every thread of a process survives a dump and
//! restore with its own state (tid, TLS, name, signal mask, registers, rseq and robust-list
//! registrations, clear_child_tid, pending signals) and carries on where it was, running or
//! blocked in the kernel. Same harness and READY/go protocol as `e2e.rs` (see
//! tests/scenarios/scenario.h); every program is told to check its state by the file `go`.
//!
//! - threads_tls: 32 workers, each with its own TLS, name, signal mask and counters;
//! - threads_blocked: threads asleep in FUTEX_WAIT, pthread_cond_wait, pthread_mutex_lock and
//!   read() on a pipe, one holding a robust mutex, one spinning;
//! - threads_signals: signals pending to one thread and to the whole process;
//! - real programs: CPython with 8 `threading.Thread` workers, and a Java fixed thread pool.
//!
//! They need root, like all of e2e; `scripts/test threads` runs only these.

mod common;

use std::sync::{Mutex, MutexGuard};

use common::*;

/// These programs keep both cores busy (32 workers, a JVM): run them one at a
/// time, so that none of them is starved into a timeout by another.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn threads_keep_their_tls_names_masks_and_counters() {
    let _serial = one_at_a_time();
    Scenario::c("threads_tls").flags(&["-pthread"]).check();
}

/// The dump stops 33 threads and resumes them: with --leave-running each must go on exactly as
/// it was (same mask, TLS, rseq...), which the original checks itself.
#[test]
fn threads_carry_on_after_a_dump_with_leave_running() {
    let _serial = one_at_a_time();
    let mut run = Scenario::c("threads_tls").flags(&["-pthread"]).start();
    run.dump_ok(&["--leave-running"]);
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn threads_blocked_in_futex_condvar_mutex_and_pipe_read() {
    let _serial = one_at_a_time();
    Scenario::c("threads_blocked").flags(&["-pthread"]).check();
}

#[test]
fn thread_directed_and_process_wide_pending_signals() {
    let _serial = one_at_a_time();
    Scenario::c("threads_signals").flags(&["-pthread"]).check();
}

// ---------------------------------------------------------------------------------------------
// Real programs

/// CPython with 8 `threading.Thread` workers, each appending to its own list until an Event
/// stops them; half sleep, half wait on the Event with a timeout, all take turns at the GIL.
/// After go every list must grow again; then each list must hold exactly the values its worker
/// counted, and the worker's running total must match its sum.
const PYTHON_THREADS: &str = r#"
import os, sys, threading, time
N = 8
lists = [[] for _ in range(N)]
results = [None] * N
native_ids = [0] * N
stop = threading.Event()
started = threading.Barrier(N + 1)

def value(i, k):
    return i * 1_000_000_007 + k * k

def work(i):
    native_ids[i] = threading.get_native_id()
    mine = lists[i]
    total = 0
    k = 0
    started.wait()
    while not stop.is_set():
        k += 1
        v = value(i, k)
        mine.append(v)
        total += v
        # Even workers sleep (clock_nanosleep), odd ones wait on the Event (a futex with a
        # timeout); all of them also queue for the GIL.
        if i % 2 == 0:
            time.sleep(0.0005)
        else:
            stop.wait(0.0005)
    results[i] = (k, total, threading.get_native_id(), threading.current_thread().name)

threads = [threading.Thread(target=work, args=(i,), name=f"worker-{i}") for i in range(N)]
for t in threads:
    t.start()
started.wait()
while any(len(l) == 0 for l in lists):
    time.sleep(0.001)
pid = os.getpid()
at_ready = [len(l) for l in lists]
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)

errors = []
at_go = [len(l) for l in lists]
for i in range(N):
    if at_go[i] < at_ready[i]:
        errors.append(f"worker {i}: list shrank from {at_ready[i]} to {at_go[i]}")
# Every worker runs after the restore: its list grows past its length at go.
deadline = time.monotonic() + 10
while time.monotonic() < deadline and any(len(lists[i]) <= at_go[i] for i in range(N)):
    time.sleep(0.001)
for i in range(N):
    if len(lists[i]) <= at_go[i]:
        errors.append(f"worker {i}: its list is stuck at {at_go[i]} entries")
stop.set()
for i, t in enumerate(threads):
    t.join(10)
    if t.is_alive():
        errors.append(f"worker {i} did not stop within 10 s")
for i in range(N):
    if results[i] is None:
        errors.append(f"worker {i} left no result")
        continue
    k, total, native_id, name = results[i]
    mine = lists[i]
    if len(mine) != k:
        errors.append(f"worker {i}: {len(mine)} entries, but it counted {k}")
    want = sum(value(i, j) for j in range(1, k + 1))
    if sum(mine) != want or total != want:
        errors.append(f"worker {i}: sum of the list {sum(mine)}, running total {total}, expected {want}")
    if mine != [value(i, j) for j in range(1, k + 1)]:
        errors.append(f"worker {i}: the list's entries differ")
    if native_id != native_ids[i]:
        errors.append(f"worker {i}: native thread id {native_id}, expected {native_ids[i]}")
    if name != f"worker-{i}":
        errors.append(f"worker {i}: thread name {name!r}")
if os.getpid() != pid:
    errors.append(f"os.getpid() is {os.getpid()}, expected {pid}")
if threading.active_count() != 1:
    errors.append(f"{threading.active_count()} threads are left, expected 1")
finish(errors)
"#;

#[test]
fn python_threading_workers() {
    let _serial = one_at_a_time();
    Scenario::python("python_threads", PYTHON_THREADS).check();
}

/// A JVM (20-odd threads: GC, JIT compilers, signal dispatcher...) running a fixed pool of 8
/// workers that step their own LCG and publish steps and state in AtomicLongs. After go each
/// counter must move again; then each worker's state must equal the LCG run for its step count.
/// Compiled with javac at test time (CI installs default-jdk-headless when javac is missing).
const JAVA_THREAD_POOL: &str = r#"import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** A fixed pool of 8 workers, each stepping its own LCG and counting steps in an AtomicLong. */
public class ThreadPool {
    static final int N = 8;
    static final long A = 6364136223846793005L, C = 1442695040888963407L;

    static long seed(int i) {
        return 0x853c49e6748fea9bL + i;
    }

    public static void main(String[] args) throws Exception {
        AtomicLong[] counters = new AtomicLong[N];
        AtomicLong[] states = new AtomicLong[N];
        String[] names = new String[N];
        long[] ids = new long[N];
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(N);
        ExecutorService pool = Executors.newFixedThreadPool(N);
        List<Future<long[]>> results = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            final int w = i;
            counters[w] = new AtomicLong();
            states[w] = new AtomicLong(seed(w));
            results.add(pool.submit(() -> {
                names[w] = Thread.currentThread().getName();
                ids[w] = Thread.currentThread().getId();
                started.countDown();
                long steps = 0, x = seed(w);
                while (!stop.get()) {
                    x = A * x + C;
                    steps++;
                    states[w].set(x);
                    counters[w].set(steps);
                    if (steps % 4096 == 0) {
                        Thread.sleep(1);
                    }
                }
                String name = Thread.currentThread().getName();
                long id = Thread.currentThread().getId();
                return new long[] {steps, x, name.equals(names[w]) ? 1 : 0, id == ids[w] ? 1 : 0};
            }));
        }
        started.await();
        for (int i = 0; i < N; i++) {
            while (counters[i].get() == 0) {
                Thread.sleep(1);
            }
        }
        long pid = ProcessHandle.current().pid();
        long[] atReady = new long[N];
        for (int i = 0; i < N; i++) {
            atReady[i] = counters[i].get();
        }
        System.out.println("READY");
        System.out.flush();

        Path go = Path.of("go");
        while (!Files.exists(go)) {
            Thread.sleep(10);
        }

        List<String> errors = new ArrayList<>();
        long[] atGo = new long[N];
        for (int i = 0; i < N; i++) {
            atGo[i] = counters[i].get();
            if (atGo[i] < atReady[i]) {
                errors.add("worker " + i + ": counter went back from " + atReady[i] + " to " + atGo[i]);
            }
        }
        // Every worker runs after the restore.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean[] moving = new boolean[N];
        int nmoving = 0;
        while (nmoving < N && System.nanoTime() < deadline) {
            for (int i = 0; i < N; i++) {
                if (!moving[i] && counters[i].get() > atGo[i]) {
                    moving[i] = true;
                    nmoving++;
                }
            }
            Thread.sleep(1);
        }
        for (int i = 0; i < N; i++) {
            if (!moving[i]) {
                errors.add("worker " + i + " (" + names[i] + "): counter stuck at " + atGo[i]);
            }
        }
        stop.set(true);
        for (int i = 0; i < N; i++) {
            long[] r;
            try {
                r = results.get(i).get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                errors.add("worker " + i + ": " + e);
                continue;
            }
            long steps = r[0], x = r[1];
            if (steps != counters[i].get()) {
                errors.add("worker " + i + ": counted " + steps + ", its AtomicLong says " + counters[i].get());
            }
            long want = seed(i);
            for (long s = 0; s < steps; s++) {
                want = A * want + C;
            }
            if (x != want || states[i].get() != want) {
                errors.add("worker " + i + ": state after " + steps + " steps is " + Long.toHexString(x)
                        + " (shared " + Long.toHexString(states[i].get()) + "), expected " + Long.toHexString(want));
            }
            if (r[2] != 1 || r[3] != 1) {
                errors.add("worker " + i + ": thread name or id changed");
            }
        }
        pool.shutdown();
        if (!pool.awaitTermination(10, TimeUnit.SECONDS)) {
            errors.add("the pool did not terminate");
        }
        if (ProcessHandle.current().pid() != pid) {
            errors.add("pid is " + ProcessHandle.current().pid() + ", expected " + pid);
        }
        for (String e : errors) {
            System.out.println("FAIL: " + e);
        }
        if (errors.isEmpty()) {
            System.out.println("PASS");
        }
        System.out.flush();
        System.exit(errors.isEmpty() ? 0 : 1);
    }
}
"#;

#[test]
fn java_fixed_thread_pool() {
    let _serial = one_at_a_time();
    Scenario::java("ThreadPool", JAVA_THREAD_POOL, &["-Xmx128m"]).check();
}
