//! Which vector instructions dlc's own kernels (`small_gemm`, `gemv`,
//! `conv_kgrad`) run with, chosen once per process from what the host
//! has: AVX-512 where it exists, AVX2+FMA otherwise, none on other hosts
//! (the products then go to `gemm`, convolutions the im2col way).
//!
//! One binary serves both kinds of x86 machine: on an AVX-512 host the
//! 512-bit kernels do twice the work per instruction, and the AVX2 path
//! stays what the AVX2 hosts run. `DLC_ISA=avx2` in the environment (read
//! once) forces the AVX2 path on an AVX-512 host, to compare the two;
//! the kernels' unit tests run both paths explicitly wherever the host
//! supports them. (The `gemm` crate chooses its own kernels at run time.)

use std::sync::OnceLock;

/// A vector instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 256-bit vectors with FMA.
    Avx2,
    /// 512-bit vectors (AVX-512F) with masked loads and stores.
    Avx512,
}

impl Isa {
    /// Whether the host runs this instruction set.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            match self {
                Isa::Avx2 => avx2,
                Isa::Avx512 => avx2 && is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = self;
            false
        }
    }

    /// Every instruction set the host runs: the ones tests try.
    pub fn all_supported() -> Vec<Isa> {
        [Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| i.supported())
            .collect()
    }
}

/// The instruction set the kernels use: the widest the host has, or AVX2
/// when `DLC_ISA=avx2`; `None` without AVX2+FMA.
pub fn best() -> Option<Isa> {
    static BEST: OnceLock<Option<Isa>> = OnceLock::new();
    *BEST.get_or_init(|| {
        let avx2_only = std::env::var("DLC_ISA").is_ok_and(|v| v == "avx2");
        if !avx2_only && Isa::Avx512.supported() {
            Some(Isa::Avx512)
        } else if Isa::Avx2.supported() {
            Some(Isa::Avx2)
        } else {
            None
        }
    })
}
