// The harness's plain-Kotlin core (plan, result, statistics, runner loop, delegate choice): no Android classes.
// vst's tests build it with kotlinc and run its JUnit tests via core/test.sh; in a Gradle build the app uses it.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // the phone provides org.json; the JVM tests run against Android's own implementation, as the app sees it
    compileOnly("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
    testImplementation("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
    testImplementation("junit:junit:4.13.2")
}
