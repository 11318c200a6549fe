// The part of LiteRT's C API (litert/c/*.h of google-ai-edge/LiteRT, release 2.3.0) that vst_litert.c calls:
// its types, enum values and struct layouts, and one function-pointer type per function. LiteRT ships no
// headers with its Python wheel, and vst_litert.c resolves the functions at run time (dlsym), so these
// declarations must match the library: checked against `nm -D libLiteRt.so` of ai-edge-litert 2.3.0.
// Plain C99 (the anonymous union of LiteRtAny is named here; its layout is the same).
#ifndef VST_LITERT_C_API_H
#define VST_LITERT_C_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSignatureT* LiteRtSignature;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT* LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT* LiteRtTensorBufferRequirements;

typedef int LiteRtStatus;  // an enum in litert_common.h; 0 is kLiteRtStatusOk
enum {
    kLiteRtStatusOk = 0,
    kLiteRtStatusErrorInvalidArgument = 1,
    kLiteRtStatusErrorMemoryAllocationFailure = 2,
    kLiteRtStatusErrorRuntimeFailure = 3,
    kLiteRtStatusErrorMissingInputTensor = 4,
    kLiteRtStatusErrorUnsupported = 5,
    kLiteRtStatusErrorNotFound = 6,
    kLiteRtStatusErrorFileIO = 500,
    kLiteRtStatusErrorInvalidFlatbuffer = 501,
    kLiteRtStatusErrorDynamicLoading = 502,
    kLiteRtStatusErrorCompilation = 504,
};

typedef int LiteRtHwAcceleratorSet;
enum { kLiteRtHwAcceleratorCpu = 1 << 0, kLiteRtHwAcceleratorGpu = 1 << 1 };
typedef size_t LiteRtParamIndex;

// litert_model_types.h: TfLiteType values
typedef enum {
    kLiteRtElementTypeFloat32 = 1,
    kLiteRtElementTypeUInt8 = 3,
    kLiteRtElementTypeInt8 = 9,
    kLiteRtElementTypeFloat16 = 10,
} LiteRtElementType;

typedef enum { kLiteRtRankedTensorType = 0, kLiteRtUnrankedTensorType = 1 } LiteRtTensorTypeId;
typedef enum { kLiteRtQuantizationNone = 0, kLiteRtQuantizationPerTensor = 1 } LiteRtQuantizationTypeId;

#define LITERT_TENSOR_MAX_RANK 8
typedef struct {
    unsigned int rank : 7;
    unsigned int has_strides : 1;
    int32_t dimensions[LITERT_TENSOR_MAX_RANK];
    uint32_t strides[LITERT_TENSOR_MAX_RANK];
} LiteRtLayout;

typedef struct {
    LiteRtElementType element_type;
    LiteRtLayout layout;
} LiteRtRankedTensorType;

typedef struct {
    float scale;
    int64_t zero_point;
} LiteRtQuantizationPerTensor;

// litert_any.h / litert_environment_options.h
typedef enum { kLiteRtAnyTypeInt = 2, kLiteRtAnyTypeString = 8 } LiteRtAnyType;
typedef struct {
    LiteRtAnyType type;
    union {
        bool bool_value;
        int64_t int_value;
        double real_value;
        const char* str_value;
        const void* ptr_value;
    } v;
} LiteRtAny;

typedef enum {
    kLiteRtEnvOptionTagRuntimeLibraryDir = 22,
    kLiteRtEnvOptionTagAutoRegisterAccelerators = 24,
    kLiteRtEnvOptionTagMinLoggerSeverity = 25,
} LiteRtEnvOptionTag;
typedef struct {
    LiteRtEnvOptionTag tag;
    LiteRtAny value;
} LiteRtEnvOption;
enum { kLiteRtLogSeverityError = 3 };

typedef enum { kLiteRtTensorBufferLockModeRead = 0, kLiteRtTensorBufferLockModeWrite = 1 } LiteRtTensorBufferLockMode;

// The layouts LiteRT's own headers assert (64-bit targets); a mismatch fails to compile.
#define VST_LITERT_ASSERT(name, cond) typedef char vst_litert_assert_##name[(cond) ? 1 : -1]
VST_LITERT_ASSERT(layout, sizeof(LiteRtLayout) == 68 && offsetof(LiteRtLayout, dimensions) == 4);
VST_LITERT_ASSERT(ranked, sizeof(LiteRtRankedTensorType) == 72 && offsetof(LiteRtRankedTensorType, layout) == 4);
VST_LITERT_ASSERT(quant, sizeof(LiteRtQuantizationPerTensor) == 16);
VST_LITERT_ASSERT(any, sizeof(LiteRtAny) == 16 || sizeof(void*) != 8);
VST_LITERT_ASSERT(envopt, sizeof(LiteRtEnvOption) == 24 || sizeof(void*) != 8);

// Every function vst_litert.c uses: X(name, return type, parameters).
#define VST_LITERT_FUNCTIONS(X)                                                                                   \
    X(LiteRtCreateEnvironment, LiteRtStatus, (int, const LiteRtEnvOption*, LiteRtEnvironment*))                \
    X(LiteRtDestroyEnvironment, void, (LiteRtEnvironment))                                                      \
    X(LiteRtCreateModelFromFile, LiteRtStatus, (LiteRtEnvironment, const char*, LiteRtModel*))                  \
    X(LiteRtDestroyModel, void, (LiteRtModel))                                                                  \
    X(LiteRtGetNumModelSignatures, LiteRtStatus, (LiteRtModel, LiteRtParamIndex*))                              \
    X(LiteRtGetModelSignature, LiteRtStatus, (LiteRtModel, LiteRtParamIndex, LiteRtSignature*))                 \
    X(LiteRtGetNumSignatureInputs, LiteRtStatus, (LiteRtSignature, LiteRtParamIndex*))                          \
    X(LiteRtGetNumSignatureOutputs, LiteRtStatus, (LiteRtSignature, LiteRtParamIndex*))                         \
    X(LiteRtGetSignatureInputTensorByIndex, LiteRtStatus, (LiteRtSignature, LiteRtParamIndex, LiteRtTensor*))   \
    X(LiteRtGetSignatureOutputTensorByIndex, LiteRtStatus, (LiteRtSignature, LiteRtParamIndex, LiteRtTensor*))  \
    X(LiteRtGetTensorTypeId, LiteRtStatus, (LiteRtTensor, LiteRtTensorTypeId*))                                 \
    X(LiteRtGetRankedTensorType, LiteRtStatus, (LiteRtTensor, LiteRtRankedTensorType*))                         \
    X(LiteRtGetQuantizationTypeId, LiteRtStatus, (LiteRtTensor, LiteRtQuantizationTypeId*))                     \
    X(LiteRtGetPerTensorQuantization, LiteRtStatus, (LiteRtTensor, LiteRtQuantizationPerTensor*))               \
    X(LiteRtCreateOptions, LiteRtStatus, (LiteRtOptions*))                                                      \
    X(LiteRtDestroyOptions, void, (LiteRtOptions))                                                              \
    X(LiteRtSetOptionsHardwareAccelerators, LiteRtStatus, (LiteRtOptions, LiteRtHwAcceleratorSet))              \
    X(LiteRtCreateOpaqueOptions, LiteRtStatus, (const char*, void*, void (*)(void*), LiteRtOpaqueOptions*))     \
    X(LiteRtDestroyOpaqueOptions, void, (LiteRtOpaqueOptions))                                                  \
    X(LiteRtAddOpaqueOptions, LiteRtStatus, (LiteRtOptions, LiteRtOpaqueOptions))                               \
    X(LiteRtCreateCompiledModel, LiteRtStatus, (LiteRtEnvironment, LiteRtModel, LiteRtOptions,                  \
                                                LiteRtCompiledModel*))                                          \
    X(LiteRtDestroyCompiledModel, void, (LiteRtCompiledModel))                                                  \
    X(LiteRtCompiledModelIsFullyAccelerated, LiteRtStatus, (LiteRtCompiledModel, bool*))                        \
    X(LiteRtGetCompiledModelInputBufferRequirements, LiteRtStatus,                                              \
      (LiteRtCompiledModel, LiteRtParamIndex, LiteRtParamIndex, LiteRtTensorBufferRequirements*))               \
    X(LiteRtGetCompiledModelOutputBufferRequirements, LiteRtStatus,                                             \
      (LiteRtCompiledModel, LiteRtParamIndex, LiteRtParamIndex, LiteRtTensorBufferRequirements*))               \
    X(LiteRtCreateManagedTensorBufferFromRequirements, LiteRtStatus,                                            \
      (LiteRtEnvironment, const LiteRtRankedTensorType*, LiteRtTensorBufferRequirements, LiteRtTensorBuffer*))  \
    X(LiteRtDestroyTensorBuffer, void, (LiteRtTensorBuffer))                                                    \
    X(LiteRtLockTensorBuffer, LiteRtStatus, (LiteRtTensorBuffer, void**, LiteRtTensorBufferLockMode))           \
    X(LiteRtUnlockTensorBuffer, LiteRtStatus, (LiteRtTensorBuffer))                                             \
    X(LiteRtRunCompiledModel, LiteRtStatus, (LiteRtCompiledModel, LiteRtParamIndex, size_t, LiteRtTensorBuffer*, \
                                             size_t, LiteRtTensorBuffer*))

// CPU options travel as opaque options whose payload is a NUL-terminated TOML text ("num_threads = N\n"): what
// LrtGetOpaqueCpuOptionsData (litert/c/options/litert_cpu_options.cc, compiled into apps, not exported by
// libLiteRt.so) builds. The XNNPACK accelerator reads it under "xnnpack"; the interpreter that runs the ops
// XNNPACK leaves reads its thread count under "cpu_delegate" (litert/runtime/compiled_model.cc).
#define VST_LITERT_XNNPACK_OPTIONS_ID "xnnpack"
#define VST_LITERT_INTERPRETER_OPTIONS_ID "cpu_delegate"

#endif
