package org.vst.bench

import android.app.Activity
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import org.tensorflow.lite.TensorFlowLite
import java.io.File
import java.time.Instant
import kotlin.concurrent.thread

/**
 * Started by `adb shell am start -W -n org.vst.bench/.MainActivity --es plan plans/<cell>.json --es result
 * results/<cell>.json` (paths relative to getExternalFilesDir(null)); runs the plan once, writes the result
 * atomically (the driver polls for it) and finishes.
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

    private fun run(plan: Plan, files: File): BenchResult {
        val started = Instant.now().toString()
        val thermal0 = DeviceInfo.thermal(this)
        val battery0 = DeviceInfo.battery(this)
        val t0 = System.nanoTime()
        LiteRtModel(File(files, plan.artifactPath), plan.width, plan.height, plan.threads, plan.delegateChoice).use { model ->
            val loadMs = (System.nanoTime() - t0) / 1e6
            val clip = File(files, plan.clipPath)
            val perFrame = plan.width * plan.height * 3 * (if (model.dtype == "float32") 4 else 1)
            val runner = BenchRunner<DecodedFrame, java.nio.ByteBuffer>(
                openVideo = { VideoReader(clip) },
                resize = { resizeInto(it, model) },
                infer = { model.infer(it) },
                maxPrepared = InputFormat.preparedLimit(perFrame)
            )
            val firstMs = runner.warmup(plan)
            val repeats = runner.measure(plan)
            val env = Environment(
                device = plan.device, hardware = DeviceInfo.hardware, chip = DeviceInfo.chip, os = DeviceInfo.os,
                runtimeVersion = "LiteRT ${TensorFlowLite.runtimeVersion()}",
                delegateRequested = plan.delegate, delegateUsed = model.delegateUsed, threads = plan.threads,
                thermalStart = thermal0, thermalEnd = DeviceInfo.thermal(this),
                batteryStart = battery0, batteryEnd = DeviceInfo.battery(this),
                harness = "android_harness VstBench 1"
            )
            return BenchResult(plan, "device", started, Instant.now().toString(), env, model.layout, model.dtype,
                               loadMs, firstMs, repeats)
        }
    }

    companion object {
        const val TAG = "VstBench"
    }
}
