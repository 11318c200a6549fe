"""Per-delegate op support: XNNPACK measured on the host; GPU, NNAPI and Core ML units from allow-lists in
rules/*.json, each citing its source. tf.lite's Analyzer is not used: it calls every op GPU-compatible."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

MEASURED_SOURCE = "measured on this host: LiteRT interpreter execution plan after the XNNPACK delegate was applied"
# XNNPACK takes CONCATENATION of at most this many inputs (measured: 9-input concats of a 9x9 pad fall back).
MAX_CONCAT_INPUTS = 4


@lru_cache(maxsize=None)
def load_rules(name: str) -> dict:
    return json.loads(resources.files("vst.convert").joinpath(f"rules/{name}.json").read_text())


def _verdict(fallbacks: list, total: int) -> str:
    if not fallbacks:
        return "full"
    return "none" if len(fallbacks) >= total else "partial"


def xnnpack_verdict(xnn: dict) -> dict:
    fallbacks = [{"op": n["op"], "node": n["node"], "reason": "the XNNPACK delegate did not claim this node; it "
                  "runs on the TFLite reference CPU kernels between partitions", "source": MEASURED_SOURCE}
                 for n in xnn["not_delegated"]]
    return {"verdict": _verdict(fallbacks, xnn["total_nodes"]), "partitions": xnn["partitions"],
            "fallbacks": fallbacks}


def tflite_verdicts(op_list: list[dict]) -> dict:
    """op_list: tflite.ops() rows (op, index, dtypes). Returns {delegate: {verdict, fallbacks, source}}."""
    out = {}
    for name in ("tflite_gpu", "nnapi"):
        rules = load_rules(name)
        api = rules.get("assumed_api_level")
        fallbacks = []
        for o in op_list:
            rule = rules["ops"].get(o["op"])
            reason = None
            if rule is None:
                reason = f"{o['op']} is not on the {rules['title']} allow-list ({rules['default']})"
            elif api is not None and rule.get("min_api", 0) > api:
                reason = f"{o['op']} needs Android API {rule['min_api']} (assumed {api}){': ' + rule['note'] if 'note' in rule else ''}"
            else:
                bad = [d for d in o["dtypes"] if d not in rules["dtypes"]]
                need = [rules.get("dtype_min_api", {}).get(d, 0) for d in o["dtypes"]]
                if bad:
                    reason = f"{o['op']} on {', '.join(bad)} tensors is not supported"
                elif api is not None and max(need, default=0) > api:
                    reason = f"{o['op']} on {o['dtypes']} tensors needs Android API {max(need)}"
            if reason:
                fallbacks.append({"op": o["op"], "node": o["index"], "reason": reason, "source": rules["source"]})
        out[name] = {"verdict": _verdict(fallbacks, len(op_list)), "fallbacks": fallbacks, "source": rules["source"]}
        if api is not None:
            out[name]["assumed_api_level"] = api
    return out


def coreml_verdicts(mil_ops: list[dict], compute_precision: str) -> dict:
    """mil_ops: [{op, name, dilations?}] of the program's main function (consts excluded)."""
    rules = load_rules("coreml")
    out = {}
    for unit, spec in rules["units"].items():
        fallbacks = []
        if compute_precision not in spec["precisions"]:
            fallbacks = [{"op": o["op"], "node": o["name"], "reason": spec["precision_note"],
                          "source": rules["source"]} for o in mil_ops]
        else:
            for o in mil_ops:
                reason = spec["unsupported_ops"].get(o["op"])
                cond = spec.get("conditions", {}).get(o["op"], {})
                if reason is None and "no_dilation" in cond and any(d != 1 for d in o.get("dilations", [1])):
                    reason = cond["no_dilation"]
                if reason:
                    fallbacks.append({"op": o["op"], "node": o["name"], "reason": reason, "source": rules["source"]})
        out[f"coreml_{unit}"] = {"verdict": _verdict(fallbacks, len(mil_ops)), "fallbacks": fallbacks,
                                 "source": rules["source"]}
    return out
