"""The pipelines that chain vst's steps: the main job `vst-run` (zoo -> convert -> host bench -> report)."""
