# Sourced by the GPU scripts (bench/gpu.sh, bench/gpu-profile.sh): points the CUDA build
# of cyberlm at the host's NVRTC (LD_LIBRARY_PATH) and, where /usr/local/cuda lacks
# them, at the CUDA headers NVRTC compiles against (CUDA_PATH).
for lib in libnvrtc.so.13 libnvrtc.so; do
  found="$(find /usr/local /opt /usr/lib -name "$lib" 2>/dev/null | head -1)"
  [ -n "$found" ] && export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && break
done
if [ -z "${CUDA_PATH:-}" ] && [ ! -e /usr/local/cuda/include/cuda_fp16.h ]; then
  header="$(find /usr/local /opt -name cuda_fp16.h -path '*include*' 2>/dev/null | head -1)"
  [ -n "$header" ] && export CUDA_PATH="$(dirname "$(dirname "$header")")"
fi
