// LiteRT 2.x (CompiledModel, the C API vst's native backend calls), the release vst's Python wheel pins
val litertVersion = "2.3.0"

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.vst.bench"
    compileSdk = 34

    defaultConfig {
        applicationId = "org.vst.bench"
        minSdk = 29          // PowerManager.currentThermalStatus and MediaCodec Image output
        targetSdk = 34
        versionCode = 2
        versionName = "2"
        ndk {
            abiFilters += listOf("arm64-v8a")   // the phones vst measures; LiteRT ships other ABIs too
        }
        externalNativeBuild {
            cmake {
                arguments += listOf("-DVST_LITERT_VERSION=$litertVersion", "-DANDROID_STL=none")
            }
        }
    }
    // libvstjni: android_harness/jni/vst_jni.c + ios_harness/VstBenchKit/Sources/CVstLiteRt/vst_litert.c
    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }
    packaging {
        jniLibs {
            // native libraries extracted to nativeLibraryDir as files: vst_litert.c hands LiteRT the folder of
            // libLiteRt.so (dladdr) to find its GPU accelerator there, which a path inside the APK would not give
            useLegacyPackaging = true
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            // a lab harness, not a store app: the debug key lets `adb install` take the release build
            signingConfig = signingConfigs.getByName("debug")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    // .tflite files are memory-mapped by LiteRT and must stay uncompressed when bundled
    androidResources {
        noCompress += "tflite"
    }
}

dependencies {
    // the AARs put libLiteRt.so (and, from 2.3.0 in the second artifact, the GPU accelerator) in the APK; the app
    // calls no LiteRT class: libvstjni opens the library itself
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu:$litertVersion")
    implementation(project(":core"))
}
