package org.vst.bench

import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.PowerManager

/** Thermal status, battery and build facts for the result's environment. */
object DeviceInfo {
    private val THERMAL = mapOf(
        PowerManager.THERMAL_STATUS_NONE to "none", PowerManager.THERMAL_STATUS_LIGHT to "light",
        PowerManager.THERMAL_STATUS_MODERATE to "moderate", PowerManager.THERMAL_STATUS_SEVERE to "severe",
        PowerManager.THERMAL_STATUS_CRITICAL to "critical", PowerManager.THERMAL_STATUS_EMERGENCY to "emergency",
        PowerManager.THERMAL_STATUS_SHUTDOWN to "shutdown"
    )

    fun thermal(ctx: Context): Thermal {
        val pm = ctx.getSystemService(Context.POWER_SERVICE) as PowerManager
        return Thermal("PowerManager.currentThermalStatus", THERMAL[pm.currentThermalStatus], null)
    }

    fun battery(ctx: Context): Battery? {
        val sticky = ctx.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED)) ?: return null
        val level = sticky.getIntExtra(BatteryManager.EXTRA_LEVEL, -1)
        val scale = sticky.getIntExtra(BatteryManager.EXTRA_SCALE, 100)
        val temp = sticky.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Int.MIN_VALUE)
        val plugged = sticky.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0)
        return Battery("BatteryManager", if (level >= 0) 100.0 * level / scale else null,
                       if (temp != Int.MIN_VALUE) temp / 10.0 else null, plugged != 0)
    }

    val hardware: String get() = "${Build.MANUFACTURER} ${Build.MODEL}"
    val chip: String get() = if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else Build.HARDWARE
    val os: String get() = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})"
}

/** The phone as NativeBench's results name it, thermal and battery read as the cell starts and ends. */
class AndroidHost(private val ctx: Context) : HostFacts {
    override val runner = "the Android app"
    override val hardware = DeviceInfo.hardware
    override val chip = DeviceInfo.chip
    override val os = DeviceInfo.os
    override val harness = "android_harness VstBench 2 (vst's native backend)"
    override val platform = "android"
    override fun thermal(): Thermal = DeviceInfo.thermal(ctx)
    override fun battery(): Battery? = DeviceInfo.battery(ctx)
}
