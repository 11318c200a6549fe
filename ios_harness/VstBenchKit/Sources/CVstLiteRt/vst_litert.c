// vst's native backend (include/vst_litert.h): LiteRT's C API resolved at run time, the frame preparation of
// vst/runtimes/spec.py prepare() after vst/common/images.py resize_cover(), and the process's memory.
//
// LiteRT is opened with dlopen rather than linked: the Python wheel's libLiteRt.so lives in a different folder
// on every machine, the phone apps link their own LiteRT (its symbols are then found in the process), and the
// Swift package and the Kotlin build must compile and test where no LiteRT is installed.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // dladdr
#endif
#include "vst_litert.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "litert_c_api.h"

#ifdef __APPLE__
#include <mach/mach.h>
#endif

#define VST_ERR(...) vst_error(err, err_len, __VA_ARGS__)
#define VST_BAD(...) (vst_error(err, err_len, __VA_ARGS__), -2)  // the caller's input is at fault

static int vst_error(char* err, size_t err_len, const char* fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char* status_name(LiteRtStatus s) {
    switch (s) {
        case kLiteRtStatusErrorInvalidArgument: return "invalid argument";
        case kLiteRtStatusErrorMemoryAllocationFailure: return "out of memory";
        case kLiteRtStatusErrorRuntimeFailure: return "runtime failure";
        case kLiteRtStatusErrorMissingInputTensor: return "missing input tensor";
        case kLiteRtStatusErrorUnsupported: return "unsupported";
        case kLiteRtStatusErrorNotFound: return "not found";
        case kLiteRtStatusErrorFileIO: return "file I/O error";
        case kLiteRtStatusErrorInvalidFlatbuffer: return "not a valid TFLite flatbuffer";
        case kLiteRtStatusErrorDynamicLoading: return "dynamic loading failed";
        case kLiteRtStatusErrorCompilation: return "compilation failed";
        default: return "error";
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The library

static struct {
#define VST_FIELD(name, ret, args) ret(*name) args;
    VST_LITERT_FUNCTIONS(VST_FIELD)
#undef VST_FIELD
    char dir[1024];      // the folder of libLiteRt.so: where LiteRT looks for its GPU accelerator
    char version[64];
    char error[512];     // why loading failed, kept for every later call
    int loaded;
} api;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

// The release of the LiteRT that was loaded: a build can state it (-DVST_LITERT_VERSION="2.3.0", as the phone
// apps do); a Python install has it in the name of its dist-info folder beside the package folder.
static void find_version(void) {
#ifdef VST_LITERT_VERSION
    snprintf(api.version, sizeof api.version, "%s", VST_LITERT_VERSION);
#else
    snprintf(api.version, sizeof api.version, "unknown");
    const char* env = getenv("VST_LITERT_VERSION");
    if (env && *env) {
        snprintf(api.version, sizeof api.version, "%s", env);
        return;
    }
    if (!api.dir[0]) return;
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", api.dir);
    char* slash = strrchr(parent, '/');
    if (!slash) return;
    *slash = 0;
    DIR* d = opendir(parent);
    if (!d) return;
    const char* prefix = "ai_edge_litert-";
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), p = strlen(prefix), s = strlen(".dist-info");
        if (n > p + s && strncmp(e->d_name, prefix, p) == 0 && strcmp(e->d_name + n - s, ".dist-info") == 0) {
            snprintf(api.version, sizeof api.version, "%.*s", (int)(n - p - s), e->d_name + p);
            break;
        }
    }
    closedir(d);
#endif
}

static void load_api(void) {
    const char* path = getenv("VST_LITERT_LIB");
    void* handle = NULL;
    if (path && *path) {
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            snprintf(api.error, sizeof api.error, "cannot load LiteRT from VST_LITERT_LIB=%s (%s): point it at "
                     "ai_edge_litert/libLiteRt.so of the Python install", path, dlerror());
            return;
        }
    } else if (dlsym(RTLD_DEFAULT, "LiteRtCreateEnvironment")) {
        handle = RTLD_DEFAULT;  // an app that links LiteRT itself
    } else {
        handle = dlopen("libLiteRt.so", RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            snprintf(api.error, sizeof api.error, "libLiteRt.so not found: set VST_LITERT_LIB to "
                     "ai_edge_litert/libLiteRt.so of the Python install (pip install ai-edge-litert)");
            return;
        }
    }
#define VST_SYM(name, ret, args)                                                                                   \
    *(void**)(&api.name) = dlsym(handle, #name);                                                                   \
    if (!api.name) {                                                                                               \
        snprintf(api.error, sizeof api.error, "the LiteRT library lacks %s: vst needs LiteRT 2.3 or later", #name); \
        return;                                                                                                    \
    }
    VST_LITERT_FUNCTIONS(VST_SYM)
#undef VST_SYM
    Dl_info info;
    if (dladdr(*(void**)(&api.LiteRtCreateEnvironment), &info) && info.dli_fname) {
        snprintf(api.dir, sizeof api.dir, "%s", info.dli_fname);
        char* slash = strrchr(api.dir, '/');
        if (slash) *slash = 0; else api.dir[0] = 0;
    }
    find_version();
    api.loaded = 1;
}

static int ensure_api(char* err, size_t err_len) {
    pthread_once(&api_once, load_api);
    return api.loaded ? 0 : VST_ERR("%s", api.error);
}

const char* vst_runtime_version(void) {
    pthread_once(&api_once, load_api);
    return api.loaded ? api.version : "unavailable";
}

// ---------------------------------------------------------------------------------------------------------------
// The model

struct VstModel {
    LiteRtEnvironment env;
    LiteRtModel model;
    LiteRtOptions options;
    LiteRtCompiledModel compiled;
    LiteRtTensorBuffer input, output;
    VstTensorInfo in, out;
    int nchw;                // the input's layout
    int width, height;       // the input's image size
    uint8_t lut[256][4];     // the input value of each 8-bit level, in the input's dtype
    char delegate[128];
};

static void free_payload(void* p) { free(p); }

static int add_cpu_threads(LiteRtOptions options, const char* id, int threads) {
    char* toml = malloc(48);
    if (!toml) return -1;
    snprintf(toml, 48, "num_threads = %d\n", threads);
    LiteRtOpaqueOptions opaque = NULL;
    if (api.LiteRtCreateOpaqueOptions(id, toml, free_payload, &opaque) != kLiteRtStatusOk) {
        free(toml);
        return -1;
    }
    if (api.LiteRtAddOpaqueOptions(options, opaque) != kLiteRtStatusOk) {  // takes ownership only on success
        api.LiteRtDestroyOpaqueOptions(opaque);
        return -1;
    }
    return 0;
}

static int tensor_info(LiteRtTensor t, VstTensorInfo* info, LiteRtRankedTensorType* type, const char* what,
                       char* err, size_t err_len) {
    LiteRtTensorTypeId id;
    if (api.LiteRtGetTensorTypeId(t, &id) != kLiteRtStatusOk || id != kLiteRtRankedTensorType)
        return VST_BAD("the model's %s has no fixed rank; convert it with vst-convert --size WxH", what);
    if (api.LiteRtGetRankedTensorType(t, type) != kLiteRtStatusOk)
        return VST_BAD("cannot read the model's %s type", what);
    memset(info, 0, sizeof *info);
    size_t elem;
    switch (type->element_type) {
        case kLiteRtElementTypeFloat32: info->dtype = VST_FLOAT32; elem = 4; break;
        case kLiteRtElementTypeFloat16: info->dtype = VST_FLOAT16; elem = 2; break;
        case kLiteRtElementTypeUInt8: info->dtype = VST_UINT8; elem = 1; break;
        case kLiteRtElementTypeInt8: info->dtype = VST_INT8; elem = 1; break;
        default:
            return VST_BAD("the model's %s has element type %d; vst takes float32, float16, uint8 or int8", what,
                           (int)type->element_type);
    }
    info->rank = (int32_t)type->layout.rank;
    size_t n = 1;
    for (int i = 0; i < info->rank && i < 8; i++) {
        int32_t d = type->layout.dimensions[i];
        if (d <= 0) return VST_BAD("the model's %s has a free dimension; convert it with vst-convert --size WxH", what);
        info->dims[i] = d;
        n *= (size_t)d;
    }
    info->bytes = n * elem;
    LiteRtQuantizationTypeId q;
    if (api.LiteRtGetQuantizationTypeId(t, &q) == kLiteRtStatusOk && q == kLiteRtQuantizationPerTensor) {
        LiteRtQuantizationPerTensor p;
        if (api.LiteRtGetPerTensorQuantization(t, &p) == kLiteRtStatusOk) {
            info->scale = p.scale;
            info->zero_point = (int32_t)p.zero_point;
        }
    }
    return 0;
}

// float32 -> IEEE half, round to nearest even (numpy's astype(float16)); inputs are in [0, 1]
static uint16_t half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {  // subnormal half
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - exp;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;  // a carry into the exponent is still right
    return (uint16_t)(sign | h);
}

// vst/runtimes/spec.py prepare(), one 8-bit level at a time, in the same float32 arithmetic as numpy
static void fill_lut(VstModel* m) {
    const VstTensorInfo* in = &m->in;
    for (int v = 0; v < 256; v++) {
        uint8_t* o = m->lut[v];
        if ((in->dtype == VST_UINT8 || in->dtype == VST_INT8) && in->scale > 0) {
            float t = (float)v / 255.0f;
            t = t / in->scale;
            t = t + (float)in->zero_point;
            float q = nearbyintf(t);  // np.round: half to even
            float lo = in->dtype == VST_UINT8 ? 0.0f : -128.0f, hi = in->dtype == VST_UINT8 ? 255.0f : 127.0f;
            q = q < lo ? lo : q > hi ? hi : q;
            if (in->dtype == VST_UINT8) o[0] = (uint8_t)q; else { int8_t s = (int8_t)q; memcpy(o, &s, 1); }
        } else if (in->dtype == VST_UINT8) {
            o[0] = (uint8_t)v;
        } else {
            float f = (float)v * (float)(1.0 / 255.0);
            if (in->dtype == VST_FLOAT32) memcpy(o, &f, 4);
            else if (in->dtype == VST_FLOAT16) { uint16_t h = half_from_float(f); memcpy(o, &h, 2); }
            else { int8_t s = (int8_t)f; memcpy(o, &s, 1); }  // numpy's astype(int8) truncates
        }
    }
}

int vst_open(const char* model_path, const char* accelerator, int threads, VstModel** out, char* err,
             size_t err_len) {
    if (out) *out = NULL;
    if (!model_path || !out) return VST_BAD("vst_open needs a model path and a place for the model");
    int gpu;
    if (!accelerator || !*accelerator || strcmp(accelerator, "cpu") == 0) gpu = 0;
    else if (strcmp(accelerator, "gpu") == 0) gpu = 1;
    else return VST_BAD("unknown accelerator %s: give cpu (XNNPACK) or gpu", accelerator);
    if (threads < 0) return VST_BAD("threads is %d: give 1 or more, or 0 for LiteRT's default", threads);
    FILE* f = fopen(model_path, "rb");
    if (!f) return VST_BAD("%s: %s; give a .tflite file", model_path, strerror(errno));
    fclose(f);
    if (ensure_api(err, err_len)) return -1;

    VstModel* m = calloc(1, sizeof *m);
    if (!m) return VST_ERR("out of memory");
    LiteRtStatus s;
    int rc = -1;
    // CPU runs register only the CPU accelerator: no GPU library is loaded into a CPU measurement
    LiteRtEnvOption env_opts[3];
    int n_opts = 0;
    env_opts[n_opts].tag = kLiteRtEnvOptionTagAutoRegisterAccelerators;
    env_opts[n_opts].value.type = kLiteRtAnyTypeInt;
    env_opts[n_opts++].value.v.int_value = gpu ? (kLiteRtHwAcceleratorCpu | kLiteRtHwAcceleratorGpu)
                                               : kLiteRtHwAcceleratorCpu;
    env_opts[n_opts].tag = kLiteRtEnvOptionTagMinLoggerSeverity;
    env_opts[n_opts].value.type = kLiteRtAnyTypeInt;
    env_opts[n_opts++].value.v.int_value = kLiteRtLogSeverityError;  // keep the runner's terminal quiet
    if (api.dir[0]) {
        env_opts[n_opts].tag = kLiteRtEnvOptionTagRuntimeLibraryDir;
        env_opts[n_opts].value.type = kLiteRtAnyTypeString;
        env_opts[n_opts++].value.v.str_value = api.dir;
    }
    if ((s = api.LiteRtCreateEnvironment(n_opts, env_opts, &m->env)) != kLiteRtStatusOk) {
        VST_ERR("LiteRT could not create its environment (%s)", status_name(s));
        goto fail;
    }
    if ((s = api.LiteRtCreateModelFromFile(m->env, model_path, &m->model)) != kLiteRtStatusOk) {
        rc = VST_BAD("%s is not a loadable TFLite model (%s); convert it again with vst-convert", model_path,
                     status_name(s));
        goto fail;
    }
    LiteRtParamIndex n_sig = 0, n_in = 0, n_out = 0;
    LiteRtSignature sig;
    if (api.LiteRtGetNumModelSignatures(m->model, &n_sig) != kLiteRtStatusOk || n_sig < 1 ||
        api.LiteRtGetModelSignature(m->model, 0, &sig) != kLiteRtStatusOk ||
        api.LiteRtGetNumSignatureInputs(sig, &n_in) != kLiteRtStatusOk ||
        api.LiteRtGetNumSignatureOutputs(sig, &n_out) != kLiteRtStatusOk) {
        rc = VST_BAD("%s: LiteRT finds no signature to run", model_path);
        goto fail;
    }
    if (n_in != 1 || n_out != 1) {
        rc = VST_BAD("%s has %zu inputs and %zu outputs; vst's runners take one image in and one out",
                     model_path, (size_t)n_in, (size_t)n_out);
        goto fail;
    }
    LiteRtTensor tin, tout;
    LiteRtRankedTensorType in_type, out_type;
    if (api.LiteRtGetSignatureInputTensorByIndex(sig, 0, &tin) != kLiteRtStatusOk ||
        api.LiteRtGetSignatureOutputTensorByIndex(sig, 0, &tout) != kLiteRtStatusOk) {
        rc = VST_BAD("%s: cannot read the signature's tensors", model_path);
        goto fail;
    }
    if ((rc = tensor_info(tin, &m->in, &in_type, "input", err, err_len)) ||
        (rc = tensor_info(tout, &m->out, &out_type, "output", err, err_len)))
        goto fail;
    rc = -1;
    // vst/runtimes/spec.py image_spec(): the 3-channel axis says the layout
    if (m->in.rank == 4 && m->in.dims[1] == 3) {
        m->nchw = 1; m->height = m->in.dims[2]; m->width = m->in.dims[3];
    } else if (m->in.rank == 4 && m->in.dims[3] == 3) {
        m->nchw = 0; m->height = m->in.dims[1]; m->width = m->in.dims[2];
    } else {
        rc = VST_BAD("%s: the input has rank %d with no 3-channel axis at 1 (NCHW) or 3 (NHWC); a stylizer "
                     "takes one image batch", model_path, (int)m->in.rank);
        goto fail;
    }
    fill_lut(m);

    if ((s = api.LiteRtCreateOptions(&m->options)) != kLiteRtStatusOk ||
        (s = api.LiteRtSetOptionsHardwareAccelerators(
             m->options, gpu ? (kLiteRtHwAcceleratorGpu | kLiteRtHwAcceleratorCpu) : kLiteRtHwAcceleratorCpu)) !=
            kLiteRtStatusOk) {
        VST_ERR("LiteRT could not create compilation options (%s)", status_name(s));
        goto fail;
    }
    if (threads > 0 && (add_cpu_threads(m->options, VST_LITERT_XNNPACK_OPTIONS_ID, threads) ||
                        add_cpu_threads(m->options, VST_LITERT_INTERPRETER_OPTIONS_ID, threads))) {
        VST_ERR("LiteRT refused the CPU options (num_threads = %d)", threads);
        goto fail;
    }
    if ((s = api.LiteRtCreateCompiledModel(m->env, m->model, m->options, &m->compiled)) != kLiteRtStatusOk) {
        if (gpu)
            VST_ERR("%s: LiteRT's GPU accelerator could not compile it (%s); it needs "
                    "libLiteRtWebGpuAccelerator.so beside libLiteRt.so, a Vulkan driver and XDG_RUNTIME_DIR set",
                    model_path, status_name(s));
        else
            VST_ERR("%s: LiteRT could not compile it for the CPU (%s)", model_path, status_name(s));
        goto fail;
    }
    LiteRtTensorBufferRequirements req;
    if ((s = api.LiteRtGetCompiledModelInputBufferRequirements(m->compiled, 0, 0, &req)) != kLiteRtStatusOk ||
        (s = api.LiteRtCreateManagedTensorBufferFromRequirements(m->env, &in_type, req, &m->input)) !=
            kLiteRtStatusOk ||
        (s = api.LiteRtGetCompiledModelOutputBufferRequirements(m->compiled, 0, 0, &req)) != kLiteRtStatusOk ||
        (s = api.LiteRtCreateManagedTensorBufferFromRequirements(m->env, &out_type, req, &m->output)) !=
            kLiteRtStatusOk) {
        VST_ERR("%s: LiteRT could not create the input and output buffers (%s)", model_path, status_name(s));
        goto fail;
    }
    bool full = false;
    int known = api.LiteRtCompiledModelIsFullyAccelerated(m->compiled, &full) == kLiteRtStatusOk;
    if (gpu)
        snprintf(m->delegate, sizeof m->delegate, "gpu (%s)",
                 !known ? "placement not reported" : full ? "fully accelerated" : "partly on the CPU");
    else
        snprintf(m->delegate, sizeof m->delegate, "xnnpack (cpu%s)",
                 !known ? "" : full ? ", every op delegated" : ", some ops on LiteRT's builtin kernels");
    *out = m;
    return 0;
fail:
    vst_close(m);
    return rc;
}

void vst_close(VstModel* m) {
    if (!m) return;
    if (m->input) api.LiteRtDestroyTensorBuffer(m->input);
    if (m->output) api.LiteRtDestroyTensorBuffer(m->output);
    if (m->compiled) api.LiteRtDestroyCompiledModel(m->compiled);
    if (m->model) api.LiteRtDestroyModel(m->model);
    if (m->options) api.LiteRtDestroyOptions(m->options);
    if (m->env) api.LiteRtDestroyEnvironment(m->env);
    free(m);
}

void vst_input_info(const VstModel* m, VstTensorInfo* info) { *info = m->in; }
void vst_output_info(const VstModel* m, VstTensorInfo* info) { *info = m->out; }
void vst_input_image(const VstModel* m, int* width, int* height, int* nchw) {
    *width = m->width; *height = m->height; *nchw = m->nchw;
}
const char* vst_delegate_used(const VstModel* m) { return m->delegate; }

static int copy_buffer(LiteRtTensorBuffer b, void* data, size_t bytes, int write, char* err, size_t err_len) {
    void* host = NULL;
    LiteRtStatus s = api.LiteRtLockTensorBuffer(b, &host, write ? kLiteRtTensorBufferLockModeWrite
                                                                : kLiteRtTensorBufferLockModeRead);
    if (s != kLiteRtStatusOk || !host)
        return VST_ERR("LiteRT could not map the %s buffer (%s)", write ? "input" : "output", status_name(s));
    if (write) memcpy(host, data, bytes); else memcpy(data, host, bytes);
    api.LiteRtUnlockTensorBuffer(b);
    return 0;
}

int vst_run(VstModel* m, const void* input, void* output, char* err, size_t err_len) {
    if (copy_buffer(m->input, (void*)input, m->in.bytes, 1, err, err_len)) return -1;
    LiteRtStatus s = api.LiteRtRunCompiledModel(m->compiled, 0, 1, &m->input, 1, &m->output);
    if (s != kLiteRtStatusOk) return VST_ERR("LiteRT failed to run the model (%s)", status_name(s));
    return copy_buffer(m->output, output, m->out.bytes, 0, err, err_len);
}

// ---------------------------------------------------------------------------------------------------------------
// Frames: cover-scale and centre crop as vst/common/images.py cover() and resize_cover() compute them with
// OpenCV (INTER_AREA when shrinking, INTER_LINEAR when enlarging), bit for bit, for the pixels the crop keeps.

typedef struct {
    int first, count;    // source index of the first tap, number of taps
    float w[0x40];       // their weights; more than 64 taps means shrinking over 62x, refused below
} Taps;

// OpenCV's computeResizeAreaTab: each destination pixel averages the source interval it covers
static int area_taps(int src, int dst, int offset, int n, Taps* t) {
    double scale = 1.0 / ((double)dst / src);  // as OpenCV computes it, bit for bit
    for (int i = 0; i < n; i++) {
        int dx = offset + i;
        double fsx1 = dx * scale, fsx2 = fsx1 + scale;
        double cell = scale < src - fsx1 ? scale : src - fsx1;
        int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
        if (sx2 > src - 1) sx2 = src - 1;
        if (sx1 > sx2) sx1 = sx2;
        Taps* p = &t[i];
        p->count = 0;
        p->first = sx1 - fsx1 > 1e-3 ? sx1 - 1 : sx1;
        if (sx1 - fsx1 > 1e-3) p->w[p->count++] = (float)((sx1 - fsx1) / cell);
        for (int sx = sx1; sx < sx2; sx++) {
            if (p->count >= 0x40) return -1;
            p->w[p->count++] = (float)(1.0 / cell);
        }
        if (fsx2 - sx2 > 1e-3) {
            if (p->count >= 0x40) return -1;
            double part = fsx2 - sx2 < 1.0 ? fsx2 - sx2 : 1.0;
            p->w[p->count++] = (float)((part < cell ? part : cell) / cell);
        }
    }
    return 0;
}

// Shrinking: separable float sums, rounded as OpenCV's saturate_cast (nearest, halves to even).
static void area_resize(const uint8_t* rgb, int width, const Taps* tx, const Taps* ty, int W, int H, float* row,
                        float* acc, uint8_t* out) {
    for (int y = 0; y < H; y++) {
        memset(acc, 0, sizeof(float) * (size_t)W * 3);
        for (int k = 0; k < ty[y].count; k++) {
            const uint8_t* src = rgb + (size_t)(ty[y].first + k) * (size_t)width * 3;
            for (int x = 0; x < W; x++) {
                float r = 0, g = 0, b = 0;
                const uint8_t* p = src + (size_t)tx[x].first * 3;
                for (int j = 0; j < tx[x].count; j++, p += 3) {
                    r += tx[x].w[j] * p[0]; g += tx[x].w[j] * p[1]; b += tx[x].w[j] * p[2];
                }
                row[3 * x] = r; row[3 * x + 1] = g; row[3 * x + 2] = b;
            }
            float wy = ty[y].w[k];
            for (int i = 0; i < W * 3; i++) acc[i] += wy * row[i];
        }
        for (int i = 0; i < W * 3; i++) {
            long q = lrintf(acc[i]);
            out[(size_t)y * W * 3 + i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    }
}

// Shrinking by a whole factor on both axes: OpenCV's resizeAreaFast, integer block sums; 2x2 blocks round halves
// up (its vector path), larger ones through float as saturate_cast does.
static void block_resize(const uint8_t* rgb, int width, int fx, int fy, int x0, int y0, int W, int H,
                         uint8_t* out) {
    const float inv = 1.0f / (float)(fx * fy);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int j = 0; j < fy; j++) {
                    const uint8_t* p = rgb + ((size_t)(y0 + y) * fy + j) * (size_t)width * 3 + (size_t)(x0 + x) * fx * 3 + c;
                    for (int i = 0; i < fx; i++) sum += p[3 * i];
                }
                long q = fx == 2 && fy == 2 ? (sum + 2) >> 2 : lrintf((float)sum * inv);
                out[((size_t)y * W + x) * 3 + c] = (uint8_t)(q > 255 ? 255 : q);
            }
}

// Enlarging: OpenCV's fixed-point INTER_LINEAR for 8-bit images (resize.cpp): half-pixel centres, 11-bit
// weights, a horizontal pass in integers that repeats the edge pixel, and the vertical pass's own rounding
// (VResizeLinear's uchar specialisation), whose rows are clamped at the edges but keep their weights.
static void linear_resize(const uint8_t* rgb, int width, int height, int nw, int nh, int x0, int y0, int W, int H,
                          int32_t* rows, uint8_t* out) {
    double sx_scale = 1.0 / ((double)nw / width), sy_scale = 1.0 / ((double)nh / height);
    for (int y = 0; y < H; y++) {
        float fy = (float)((y0 + y + 0.5) * sy_scale - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        int32_t b0 = (int32_t)lrintf((1.0f - fy) * 2048), b1 = (int32_t)lrintf(fy * 2048);
        for (int k = 0; k < 2; k++) {
            int r = sy + k < 0 ? 0 : sy + k > height - 1 ? height - 1 : sy + k;
            const uint8_t* src = rgb + (size_t)r * (size_t)width * 3;
            int32_t* d = rows + (size_t)k * W * 3;
            for (int x = 0; x < W; x++) {
                float fx = (float)((x0 + x + 0.5) * sx_scale - 0.5);
                int sx = (int)floorf(fx);
                fx -= (float)sx;
                if (sx < 0) { fx = 0; sx = 0; }
                if (sx >= width - 1) { fx = 0; sx = width - 1; }
                int32_t a0 = (int32_t)lrintf((1.0f - fx) * 2048), a1 = (int32_t)lrintf(fx * 2048);
                for (int c = 0; c < 3; c++) {
                    int32_t v0 = src[(size_t)sx * 3 + c];
                    d[3 * x + c] = sx == width - 1 ? v0 * 2048 : v0 * a0 + src[(size_t)(sx + 1) * 3 + c] * a1;
                }
            }
        }
        for (int i = 0; i < W * 3; i++) {
            int32_t v = (((b0 * (rows[i] >> 4)) >> 16) + ((b1 * (rows[W * 3 + i] >> 4)) >> 16) + 2) >> 2;
            out[(size_t)y * W * 3 + i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

int vst_prepare(const VstModel* m, const uint8_t* rgb, int width, int height, void* dst, char* err,
                size_t err_len) {
    if (!rgb || width < 1 || height < 1) return VST_BAD("no frame to prepare (%dx%d)", width, height);
    const int W = m->width, H = m->height;
    // cover(): Python's round() rounds halves to even, as nearbyint does
    double scale = (double)W / width > (double)H / height ? (double)W / width : (double)H / height;
    long nw = lrint(nearbyint(width * scale)), nh = lrint(nearbyint(height * scale));
    if (nw < W) nw = W;
    if (nh < H) nh = H;
    int x0 = (int)((nw - W) / 2), y0 = (int)((nh - H) / 2), shrink = scale < 1;
    if (shrink && ((double)width / nw > 62 || (double)height / nh > 62))
        return VST_BAD("a %dx%d frame is over 62 times the model's %dx%d input; scale the video down first",
                       width, height, W, H);
    uint8_t* img = malloc((size_t)W * H * 3);
    Taps* tx = shrink ? malloc(sizeof(Taps) * (size_t)W) : NULL;
    Taps* ty = shrink ? malloc(sizeof(Taps) * (size_t)H) : NULL;
    float* buf = malloc(sizeof(float) * (size_t)W * 6);  // two rows: floats (area) or int32 (linear)
    int rc = 0;
    if (!img || !buf || (shrink && (!tx || !ty))) { rc = VST_ERR("out of memory"); goto done; }
    double sx = 1.0 / ((double)nw / width), sy = 1.0 / ((double)nh / height);
    if (shrink && fabs(sx - nearbyint(sx)) < DBL_EPSILON && fabs(sy - nearbyint(sy)) < DBL_EPSILON) {
        block_resize(rgb, width, (int)nearbyint(sx), (int)nearbyint(sy), x0, y0, W, H, img);
    } else if (shrink) {
        if (area_taps(width, (int)nw, x0, W, tx) || area_taps(height, (int)nh, y0, H, ty)) {
            rc = VST_ERR("frame too large to shrink");
            goto done;
        }
        area_resize(rgb, width, tx, ty, W, H, buf, buf + (size_t)W * 3, img);
    } else {
        linear_resize(rgb, width, height, (int)nw, (int)nh, x0, y0, W, H, (int32_t*)buf, img);
    }
    // spec.py prepare(): each 8-bit level through the table, into the input's layout
    const size_t elem = m->in.bytes / ((size_t)W * H * 3), plane = (size_t)W * H;
    uint8_t* out = dst;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            size_t at = m->nchw ? (size_t)c * plane + p : p * 3 + c;
            memcpy(out + at * elem, m->lut[img[p * 3 + c]], elem);
        }
done:
    free(img); free(tx); free(ty); free(buf);
    return rc;
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

#ifdef __APPLE__
// Untested here (no Apple toolchain): phys_footprint is what iOS holds against an app; its peak has no reset.
static int64_t vm_info(int peak) {
    task_vm_info_data_t info;
    mach_msg_type_number_t n = TASK_VM_INFO_COUNT;
    if (task_info(mach_task_self(), TASK_VM_INFO, (task_info_t)&info, &n) != KERN_SUCCESS) return -1;
    if (!peak) return (int64_t)info.phys_footprint;
    if ((size_t)n * sizeof(natural_t) > offsetof(task_vm_info_data_t, ledger_phys_footprint_peak))
        return (int64_t)info.ledger_phys_footprint_peak;
    return (int64_t)info.resident_size_peak;
}
int64_t vst_resident_bytes(void) { return vm_info(0); }
int64_t vst_peak_resident_bytes(void) { return vm_info(1); }
int vst_reset_peak(void) { return -1; }
#else
static int64_t status_kb(const char* key) {
    FILE* f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t n = strlen(key);
    int64_t kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = strtoll(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}
int64_t vst_resident_bytes(void) { return status_kb("VmRSS"); }
int64_t vst_peak_resident_bytes(void) { return status_kb("VmHWM"); }
int vst_reset_peak(void) {
    // "5" resets the peak resident set size to the current one (proc(5), Linux 4.0 and later)
    FILE* f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}
#endif
