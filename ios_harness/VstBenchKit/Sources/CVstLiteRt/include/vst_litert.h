// vst's native backend, shared by every harness: the Swift package (this C target), the Kotlin core on the JVM
// (android_harness/jni, through JNI) and the phone apps. It runs a .tflite through LiteRT's C API
// (libLiteRt.so: CompiledModel, the same API LiteRT's Swift and Kotlin bindings call on phones), turns RGB frames
// into the model's input exactly as vst/runtimes/spec.py prepare() does, and reads the process's memory.
// Every function that can fail returns 0 on success and writes one line naming the problem into err; the value is
// -2 when the caller's input is at fault (a missing or unloadable model, one vst cannot feed, a frame it cannot
// prepare) and -1 for everything else (LiteRT missing or failing), so that runners can exit 2 or 1.
// Loading: LiteRT is opened at the first vst_open (dlopen of $VST_LITERT_LIB, else LiteRT linked into the
// process, else "libLiteRt.so" on the loader's path), so builds need no LiteRT.
#ifndef VST_LITERT_H
#define VST_LITERT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct VstModel VstModel;

// Element types of the model's first input and output, as vst's schemas name them.
typedef enum { VST_FLOAT32 = 0, VST_FLOAT16 = 1, VST_UINT8 = 2, VST_INT8 = 3 } VstDType;

typedef struct {
    int32_t rank;
    int32_t dims[8];
    VstDType dtype;
    float scale;       // quantization scale, 0 when the tensor is not quantized
    int32_t zero_point;
    size_t bytes;
} VstTensorInfo;

// accelerator: "cpu" (XNNPACK) or "gpu"; threads: 0 keeps the runtime's default.
// On success *out holds the model; vst_close frees it.
int vst_open(const char* model_path, const char* accelerator, int threads, VstModel** out, char* err, size_t err_len);
void vst_close(VstModel* m);
void vst_input_info(const VstModel* m, VstTensorInfo* info);
void vst_output_info(const VstModel* m, VstTensorInfo* info);
// The input image as vst_prepare fills it: width, height, and *nchw 1 for NCHW, 0 for NHWC (the 3-channel axis,
// as vst/runtimes/spec.py image_spec() finds it).
void vst_input_image(const VstModel* m, int* width, int* height, int* nchw);
// What ran the model, e.g. "xnnpack (cpu, every op delegated)" or "gpu (fully accelerated)"; and LiteRT's version
// ("2.3.0": -DVST_LITERT_VERSION at build time, $VST_LITERT_VERSION, or the Python install beside the library).
const char* vst_delegate_used(const VstModel* m);
const char* vst_runtime_version(void);

// One inference: input holds vst_input_info().bytes bytes, output receives vst_output_info().bytes bytes.
int vst_run(VstModel* m, const void* input, void* output, char* err, size_t err_len);

// RGB uint8 HxWx3 frame of any size -> the model's input (cover-scale, centre crop to the input's size, then
// [0,1] floats or quantized values in the input's layout, NHWC or NCHW), written to dst (input bytes).
// Shrinking averages source pixels (area), enlarging is bilinear: what vst's host runner does through swscale.
int vst_prepare(const VstModel* m, const uint8_t* rgb, int width, int height, void* dst, char* err, size_t err_len);

// Memory of this process, bytes: resident now, and its high-water mark since the last reset (Linux and Android
// read /proc/self/status VmRSS/VmHWM and reset through /proc/self/clear_refs; Apple platforms use task_info).
// vst_reset_peak returns 0 when the mark could be reset, -1 when the platform keeps it for the process's life.
int64_t vst_resident_bytes(void);
int64_t vst_peak_resident_bytes(void);
int vst_reset_peak(void);

#ifdef __cplusplus
}
#endif
#endif
