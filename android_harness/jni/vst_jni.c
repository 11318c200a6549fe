// JNI bridge from Kotlin (org.vst.bench.VstNative) to vst's native backend (vst_litert.h), which is compiled into
// the same library: one backend for the Swift runner, the JVM runner and the phone apps. Tensors and frames cross
// as direct ByteBuffers, so a frame is never copied between Java and C; a model is a handle (its pointer as a
// long). Every failure becomes one org.vst.bench.NativeModelException carrying the backend's own line, and whether
// the caller's input was at fault (the backend's -2) or something else (-1), so that runners can exit 2 or 1.
#include <jni.h>
#include <stdint.h>
#include <stdio.h>

#include "vst_litert.h"

#define ERR_LEN 512

static void throw_native(JNIEnv* env, const char* msg, int bad_input) {
    // a failed lookup or allocation leaves its own error pending, which is then what Java sees
    jclass cls = (*env)->FindClass(env, "org/vst/bench/NativeModelException");
    if (cls == NULL) return;
    jmethodID init = (*env)->GetMethodID(env, cls, "<init>", "(Ljava/lang/String;Z)V");
    jstring text = init ? (*env)->NewStringUTF(env, msg) : NULL;
    jobject exc = text ? (*env)->NewObject(env, cls, init, text, (jboolean)(bad_input != 0)) : NULL;
    if (exc != NULL) (*env)->Throw(env, (jthrowable)exc);
}

// A backend call's result: 0, or the exception its err line describes.
static int check(JNIEnv* env, int rc, const char* err, const char* call) {
    char msg[ERR_LEN];
    if (rc == 0) return 0;
    if (!err[0]) snprintf(msg, sizeof msg, "%s failed and gave no reason", call);
    throw_native(env, err[0] ? err : msg, rc == -2);
    return rc;
}

static VstModel* model_of(JNIEnv* env, jlong handle) {
    if (handle == 0) throw_native(env, "the model is closed", 0);
    return (VstModel*)(intptr_t)handle;
}

// The address of a direct buffer holding at least `need` bytes, or NULL with the exception thrown.
static void* direct(JNIEnv* env, jobject buf, size_t need, const char* what) {
    char msg[ERR_LEN];
    void* p = buf ? (*env)->GetDirectBufferAddress(env, buf) : NULL;
    if (p == NULL) {
        snprintf(msg, sizeof msg, "%s must be a direct ByteBuffer (ByteBuffer.allocateDirect)", what);
        throw_native(env, msg, 0);
        return NULL;
    }
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    if (cap < 0 || (size_t)cap < need) {
        snprintf(msg, sizeof msg, "%s holds %lld bytes; it needs %zu", what, (long long)cap, need);
        throw_native(env, msg, 0);
        return NULL;
    }
    return p;
}

JNIEXPORT jlong JNICALL Java_org_vst_bench_VstNative_open(JNIEnv* env, jclass cls, jstring path, jstring accel,
                                                          jint threads) {
    (void)cls;
    const char* p = (*env)->GetStringUTFChars(env, path, NULL);
    const char* a = p ? (*env)->GetStringUTFChars(env, accel, NULL) : NULL;
    if (p == NULL || a == NULL) {  // OutOfMemoryError is pending
        if (p) (*env)->ReleaseStringUTFChars(env, path, p);
        return 0;
    }
    VstModel* m = NULL;
    char err[ERR_LEN] = "";
    int rc = vst_open(p, a, (int)threads, &m, err, sizeof err);
    (*env)->ReleaseStringUTFChars(env, accel, a);
    (*env)->ReleaseStringUTFChars(env, path, p);
    if (check(env, rc, err, "vst_open")) return 0;
    return (jlong)(intptr_t)m;
}

JNIEXPORT void JNICALL Java_org_vst_bench_VstNative_close(JNIEnv* env, jclass cls, jlong handle) {
    (void)env; (void)cls;
    if (handle != 0) vst_close((VstModel*)(intptr_t)handle);
}

// rank, dims[8], dtype, scale, zero point, bytes: all exact as doubles, and one array instead of an object
// built field by field through JNI.
JNIEXPORT jdoubleArray JNICALL Java_org_vst_bench_VstNative_info(JNIEnv* env, jclass cls, jlong handle,
                                                                 jboolean output) {
    (void)cls;
    VstModel* m = model_of(env, handle);
    if (m == NULL) return NULL;
    VstTensorInfo t = {0};
    if (output) vst_output_info(m, &t); else vst_input_info(m, &t);
    jdouble v[13];
    v[0] = t.rank;
    for (int i = 0; i < 8; i++) v[1 + i] = t.dims[i];
    v[9] = (jdouble)t.dtype;
    v[10] = t.scale;
    v[11] = t.zero_point;
    v[12] = (jdouble)t.bytes;
    jdoubleArray out = (*env)->NewDoubleArray(env, 13);
    if (out != NULL) (*env)->SetDoubleArrayRegion(env, out, 0, 13, v);
    return out;
}

// width, height, 1 for NCHW or 0 for NHWC: the input image as vst_prepare fills it
JNIEXPORT jintArray JNICALL Java_org_vst_bench_VstNative_inputImage(JNIEnv* env, jclass cls, jlong handle) {
    (void)cls;
    VstModel* m = model_of(env, handle);
    if (m == NULL) return NULL;
    jint v[3];
    int w = 0, h = 0, nchw = 0;
    vst_input_image(m, &w, &h, &nchw);
    v[0] = w; v[1] = h; v[2] = nchw;
    jintArray out = (*env)->NewIntArray(env, 3);
    if (out != NULL) (*env)->SetIntArrayRegion(env, out, 0, 3, v);
    return out;
}

JNIEXPORT void JNICALL Java_org_vst_bench_VstNative_run(JNIEnv* env, jclass cls, jlong handle, jobject input,
                                                        jobject output) {
    (void)cls;
    VstModel* m = model_of(env, handle);
    if (m == NULL) return;
    VstTensorInfo in = {0}, out = {0};
    vst_input_info(m, &in);
    vst_output_info(m, &out);
    void* x = direct(env, input, in.bytes, "the input");
    if (x == NULL) return;
    void* y = direct(env, output, out.bytes, "the output");
    if (y == NULL) return;
    char err[ERR_LEN] = "";
    check(env, vst_run(m, x, y, err, sizeof err), err, "vst_run");
}

JNIEXPORT void JNICALL Java_org_vst_bench_VstNative_prepare(JNIEnv* env, jclass cls, jlong handle, jobject rgb,
                                                            jint width, jint height, jobject dst) {
    (void)cls;
    VstModel* m = model_of(env, handle);
    if (m == NULL) return;
    if (width < 1 || height < 1) {
        throw_native(env, "the frame size must be positive", 1);
        return;
    }
    VstTensorInfo in = {0};
    vst_input_info(m, &in);
    const void* src = direct(env, rgb, (size_t)width * (size_t)height * 3, "the RGB frame");
    if (src == NULL) return;
    void* x = direct(env, dst, in.bytes, "the input");
    if (x == NULL) return;
    char err[ERR_LEN] = "";
    check(env, vst_prepare(m, src, width, height, x, err, sizeof err), err, "vst_prepare");
}

JNIEXPORT jstring JNICALL Java_org_vst_bench_VstNative_delegateUsed(JNIEnv* env, jclass cls, jlong handle) {
    (void)cls;
    VstModel* m = model_of(env, handle);
    if (m == NULL) return NULL;
    const char* s = vst_delegate_used(m);
    return (*env)->NewStringUTF(env, s ? s : "");
}

JNIEXPORT jstring JNICALL Java_org_vst_bench_VstNative_runtimeVersion(JNIEnv* env, jclass cls) {
    (void)cls;
    const char* s = vst_runtime_version();
    return (*env)->NewStringUTF(env, s ? s : "");
}

JNIEXPORT jlong JNICALL Java_org_vst_bench_VstNative_residentBytes(JNIEnv* env, jclass cls) {
    (void)env; (void)cls;
    return (jlong)vst_resident_bytes();
}

JNIEXPORT jlong JNICALL Java_org_vst_bench_VstNative_peakResidentBytes(JNIEnv* env, jclass cls) {
    (void)env; (void)cls;
    return (jlong)vst_peak_resident_bytes();
}

JNIEXPORT jint JNICALL Java_org_vst_bench_VstNative_resetPeak(JNIEnv* env, jclass cls) {
    (void)env; (void)cls;
    return (jint)vst_reset_peak();
}
