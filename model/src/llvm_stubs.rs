//! Stand-ins for the LLVM C API in the CUDA build.
//!
//! cubecl-cuda 0.11 always links its LLVM backend (cubecl-llvm), although cyberlm selects
//! the NVRTC (`cpp`) backend and never calls it. Built with `DOCS_RS=1`
//! (`scripts/build-cuda`), cubecl-llvm skips downloading and linking LLVM, and the
//! linker needs these symbols instead. Each one aborts with a message naming itself, so
//! if a future cubecl ever reached the LLVM backend, the binary would say so and stop
//! rather than misbehave.

macro_rules! llvm_stubs {
    ($($name:ident),* $(,)?) => {
        $(
            #[unsafe(no_mangle)]
            extern "C" fn $name() -> ! {
                unreachable_llvm(stringify!($name))
            }
        )*
    };
}

#[cold]
fn unreachable_llvm(symbol: &str) -> ! {
    eprintln!(
        "cyberlm: the CUDA runtime called LLVM ({symbol}), which this build does not include; \
         it compiles kernels with NVRTC only. Please report this with your GPU and driver."
    );
    std::process::abort()
}

llvm_stubs!();
