// The Android app needs JDK 17, Android SDK 34 and Gradle 8.7+ (not on vst's CI machines); the plain-Kotlin
// core (core/) is built and tested there with kotlinc by core/test.sh.
plugins {
    id("com.android.application") version "8.5.2" apply false
    id("org.jetbrains.kotlin.android") version "1.9.24" apply false
    id("org.jetbrains.kotlin.jvm") version "1.9.24" apply false
}
