package org.vst.bench

import android.app.Activity
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import java.io.File
import kotlin.concurrent.thread

/**
 * Started by `adb shell am start -W -n org.vst.bench/.MainActivity --es plan plans/<cell>.json --es result
 * results/<cell>.json` (paths relative to getExternalFilesDir(null)); runs the plan once, writes the result
 * atomically (the driver polls for it) and finishes. The model runs through vst's native backend (libvstjni: the
 * JNI bridge and vst_litert.c, built by the NDK from the files the JVM runner compiles) on LiteRT's CompiledModel.
 */
class MainActivity : Activity() {
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        status = TextView(this).apply { textSize = 14f; setPadding(32, 32, 32, 32) }
        setContentView(status)
        // the screen stays on and the activity in front for the whole cell
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val planRel = intent.getStringExtra("plan")
        val resultRel = intent.getStringExtra("result")
        if (planRel == null || resultRel == null) {
            status.text = Job.USAGE
            return
        }
        val files = getExternalFilesDir(null)!!
        status.text = "running $planRel"
        thread(name = "vst-bench") {
            val message = Job(planRel, resultRel).run(files) { plan -> run(plan, files) }
            Log.i(TAG, message)
            runOnUiThread { status.text = message }
        }
    }

    /** The JVM runner's NativeBench with the phone's decoder as the frame source: all else is the tested code. */
    private fun run(plan: Plan, files: File): BenchResult =
        NativeBench(AndroidHost(this)).run(plan, File(files, plan.artifactPath)) {
            MediaCodecClip(File(files, plan.clipPath))
        }

    companion object {
        const val TAG = "VstBench"
    }
}
