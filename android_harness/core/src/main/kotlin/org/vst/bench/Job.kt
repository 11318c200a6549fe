package org.vst.bench

import java.io.File
import java.io.PrintWriter
import java.io.StringWriter

/**
 * One start of the activity: `--es plan P --es result R` (paths relative to the app's files folder). Reads and
 * checks the plan, lets the app measure it, and writes the result atomically (the driver polls for the file and
 * must never read half of it) or, on failure, `R.error.txt` with the reason, which bench/drivers_android.py reports.
 */
class Job(val planPath: String, val resultPath: String) {
    /** Runs the plan with [measure] and stores what came of it; returns the line the app shows. */
    fun run(files: File, measure: (Plan) -> BenchResult): String = try {
        val plan = Plan.parse(File(files, planPath).readText())
        val result = measure(plan)
        writeAtomically(File(files, resultPath), result.toJson().toString(1))
        Summary.of(result.repeats).statusLine(plan)
    } catch (t: Throwable) {
        val trace = StringWriter()
        t.printStackTrace(PrintWriter(trace))
        writeAtomically(File(files, "$resultPath.error.txt"), trace.toString())
        "failed: $t"
    }

    companion object {
        const val USAGE = "vst-bench harness: waiting for --es plan ... --es result ..."

        fun writeAtomically(target: File, text: String) {
            val dir = target.absoluteFile.parentFile
            dir.mkdirs()
            val tmp = File(dir, ".${target.name}.tmp")
            tmp.writeText(text)
            if (!tmp.renameTo(target)) throw IllegalStateException("cannot rename $tmp to $target")
        }
    }
}
