// Uncompiled in vst's CI (no Android SDK there). Needs JDK 17, Android SDK 34 and Gradle 8.7+.
plugins {
    id("com.android.application") version "8.5.2" apply false
    id("org.jetbrains.kotlin.android") version "1.9.24" apply false
}
