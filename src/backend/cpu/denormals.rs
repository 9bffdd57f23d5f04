//! Denormals flushed while a compiled step runs: flush-to-zero (a result
//! too small for a normal f32 becomes zero) and denormals-are-zero (a
//! subnormal operand reads as zero), set in MXCSR on every thread that runs
//! part of a step and restored when the step ends.
//!
//! Why: arithmetic on subnormal numbers takes a slow path in the processor,
//! tens to a hundred times slower per instruction. A model that fits its
//! batch drives gradients (and the momentum and updates made of them)
//! below 1.2e-38, and a step then took twice its usual time, some steps
//! four times: the MLP workload at batch 64 averaged 1395 µs a step against
//! a median of 690 µs on an AVX-512 host. Values that small carry nothing
//! a training step can use. XLA's CPU runtime flushes in its threads too.
//!
//! `DLC_IEEE_SUBNORMALS=1` in the environment (read once per process)
//! keeps IEEE subnormals: MXCSR is then never touched.
//!
//! The calling thread sets the mode around the whole step ([`flush_here`]);
//! a step that splits work over rayon's pool sets it on every pool thread
//! first and restores it after ([`on_pool`]), with a per-thread depth so
//! that two steps sharing one pool restore only when the last one ends.
//! [`record`] and [`recorded`] are a test hook: while on, the runner notes
//! the MXCSR of every thread that runs part of a step.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits.
pub const FLUSH_BITS: u32 = 0x8040;

/// Whether steps flush denormals: unless `DLC_IEEE_SUBNORMALS=1`.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        cfg!(target_arch = "x86_64")
            && std::env::var("DLC_IEEE_SUBNORMALS").map_or(true, |v| v != "1")
    })
}

/// The calling thread's MXCSR (0 where there is none).
pub fn mxcsr() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v: u32 = 0;
        // SAFETY: `stmxcsr` stores the 4-byte register at a valid, aligned
        // address (a local) and has no other effect.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags));
        }
        v
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Sets the calling thread's MXCSR.
fn set_mxcsr(v: u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `ldmxcsr` loads the register from a valid, aligned address.
    // Callers only toggle FLUSH_BITS (or put back a value read before),
    // which changes how results below the normal range round (to zero)
    // and nothing else: the exception masks stay as they were, so no
    // floating-point operation starts to trap. Code compiled before the
    // change assumed IEEE subnormals only for values that small.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Puts the calling thread's MXCSR back as it was when dropped.
pub struct Restore(Option<u32>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(v) = self.0 {
            set_mxcsr(v);
        }
    }
}

/// Flushes denormals on the calling thread until the guard is dropped
/// (nothing, when [`enabled`] is false).
pub fn flush_here() -> Restore {
    if !enabled() {
        return Restore(None);
    }
    let before = mxcsr();
    if before & FLUSH_BITS != FLUSH_BITS {
        set_mxcsr(before | FLUSH_BITS);
    }
    Restore(Some(before))
}

thread_local! {
    /// Per pool thread: how many steps have the mode set here, and the
    /// MXCSR from before the first of them.
    static POOL: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// One more step on this pool thread: the mode set at the first.
fn pool_enter() {
    POOL.with(|c| {
        let (depth, saved) = c.get();
        if depth == 0 {
            let before = mxcsr();
            set_mxcsr(before | FLUSH_BITS);
            c.set((1, before));
        } else {
            c.set((depth + 1, saved));
        }
    });
}

/// One step fewer on this pool thread: MXCSR restored after the last.
fn pool_leave() {
    POOL.with(|c| match c.get() {
        (0, _) => {}
        (1, saved) => {
            set_mxcsr(saved);
            c.set((0, 0));
        }
        (depth, saved) => c.set((depth - 1, saved)),
    });
}

/// Restores every pool thread when dropped (a panicking step included).
struct PoolRestore;

impl Drop for PoolRestore {
    fn drop(&mut self) {
        rayon::broadcast(|_| pool_leave());
    }
}

/// Runs `f` with denormals flushed on every thread of the current rayon
/// pool, MXCSR restored on each afterwards (just `f`, when [`enabled`] is
/// false). Costs two wake-ups of the pool: for steps that split work.
pub fn on_pool<R>(f: impl FnOnce() -> R) -> R {
    if !enabled() {
        probe_pool();
        return f();
    }
    rayon::broadcast(|_| pool_enter());
    let _restore = PoolRestore;
    probe_pool();
    f()
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static RECORDED: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Test hook: starts (clearing what was noted) or stops noting, from inside
/// every step, the MXCSR of each thread that runs part of it.
pub fn record(on: bool) {
    let mut r = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        r.clear();
    }
    RECORDING.store(on, Ordering::SeqCst);
}

/// What [`record`] noted: (thread name, or `?`, and its MXCSR).
pub fn recorded() -> Vec<(String, u32)> {
    RECORDED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Notes the calling thread's MXCSR when recording (one atomic load
/// otherwise): called from the parts of a step that run on threads.
#[inline]
pub(super) fn note() {
    if RECORDING.load(Ordering::Relaxed) {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        let v = mxcsr();
        RECORDED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, v));
    }
}

/// Notes the MXCSR of every pool thread when recording: each one runs a
/// note inside the step, whether or not it gets any of its work.
fn probe_pool() {
    if RECORDING.load(Ordering::Relaxed) {
        rayon::broadcast(|_| note());
    }
}
