"""Delegate-aware exact rewrites over the IR, each a registered pass (vst.convert.passes.base.rewrite), each proven
on real images before it is kept.

Why (000 section IV-A, and measured here): TFLite's MIRROR_PAD and RESIZE_NEAREST_NEIGHBOR are not taken by
XNNPACK, which splits the graph into many partitions; sqrt+div instance norms need ops that NNAPI and int8 kernels
lack, while mean/sub/mul/rsqrt are on every allow-list; the conv rewrites feed XNNPACK's GEMMs wider and fewer;
TFLite has GELU but no ERF.
The modules hold the rewrites by what they rewrite: pads, upsample, norms, convs, activations. A new rewrite is a function
decorated with `@rewrite(...)` in one of them, and its name in ORDER.
"""
from vst.convert.passes.activations import erf_gelu_as_gelu
from vst.convert.passes.base import EXACT_PSNR_DB, REGISTRY, PassResult, Rewrite, prove, prove_and_apply, rewrite
from vst.convert.passes.convs import (MAX_PARITY_COUT, conv_input_space_to_depth, conv_output_parities,
                                      fold_affine_into_conv, shift_as_depthwise, stride2_conv_on_parities)
from vst.convert.passes.norms import (MEAN_BY_ROWS_BELOW_CHANNELS, WIDEN_BELOW_CHANNELS,
                                      fold_identity_affines, instance_norm_moments, instance_norm_raw_moments, instance_norm_rsqrt,
                                      mean_by_rows, spatial_mean_by_rows, widen_channel_broadcasts)
from vst.convert.passes.pads import reflect_pad_as_slices
from vst.convert.passes.upsample import interleaves_as_depth_to_space, nearest_as_repeat, nearest_conv_subpixel

# The one order rewrites run in, for every target and precision (each takes the ones registered for it). Folds
# first (they change what the later ones match), norms after the convs that feed them.
ORDER = ("fold_affine_into_conv", "erf_gelu_as_gelu", "nearest_conv_subpixel", "conv_output_parities",
         "stride2_conv_on_parities",
         "conv_input_space_to_depth", "reflect_pad_as_slices", "nearest_as_repeat", "instance_norm_moments",
         "instance_norm_raw_moments", "instance_norm_rsqrt", "shift_as_depthwise", "fold_identity_affines",
         "widen_channel_broadcasts",
         "spatial_mean_by_rows", "interleaves_as_depth_to_space")
if sorted(ORDER) != sorted(REGISTRY):
    raise ImportError(f"rewrites registered and ordered differ: {sorted(set(ORDER) ^ set(REGISTRY))}")


# The steps of a conversion, as its report lists them, in the order they run: the front's (export, dequantize for
# QDQ sources, import), the rewrites, then the target's emitter's (layout, quantize, verify). convert() checks every
# report against it.
STEPS = ("export", "dequantize", "import", *ORDER, "layout", "quantize", "verify")


def in_step_order(names: list[str]) -> bool:
    """Whether a report's pass names are steps of STEPS, each once, in its order."""
    index = [STEPS.index(n) if n in STEPS else -1 for n in names]
    return -1 not in index and index == sorted(set(index))


def for_target(target: str) -> tuple[str, ...]:
    """The rewrites a target's files take, in ORDER."""
    return tuple(name for name in ORDER if target in REGISTRY[name].targets)


__all__ = ["EXACT_PSNR_DB", "ORDER", "STEPS", "in_step_order", "REGISTRY", "PassResult", "Rewrite", "for_target", "prove", "prove_and_apply",
           "rewrite", "MAX_PARITY_COUT", "MEAN_BY_ROWS_BELOW_CHANNELS", "WIDEN_BELOW_CHANNELS", "mean_by_rows",
           "conv_input_space_to_depth", "conv_output_parities", "fold_affine_into_conv", "shift_as_depthwise",
           "stride2_conv_on_parities", "instance_norm_moments", "instance_norm_raw_moments", "instance_norm_rsqrt", "spatial_mean_by_rows", "fold_identity_affines",
           "widen_channel_broadcasts", "reflect_pad_as_slices", "nearest_as_repeat", "nearest_conv_subpixel",
           "interleaves_as_depth_to_space",
           "erf_gelu_as_gelu"]
