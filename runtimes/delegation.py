"""How much of a graph a delegate took: one typed summary for every runtime."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Delegation:
    runtime: str
    requested: str
    partitions: int | None = None          # DELEGATE nodes (LiteRT); None where the runtime does not say
    delegated_nodes: int | None = None
    total_nodes: int | None = None
    not_delegated: list[dict] = field(default_factory=list)   # [{"op", "node"}]
    detail: str = ""                       # what a runtime without partitions reports (ORT provider, threads)

    def summary(self) -> str:
        if self.partitions is None:
            return self.detail or self.requested
        if self.partitions == 0:
            return "none (builtin kernels)"
        outside = (self.total_nodes or 0) - (self.delegated_nodes or 0)
        plural = "s" * (self.partitions > 1)
        return (f"xnnpack ({self.partitions} partition{plural}, {self.delegated_nodes}/{self.total_nodes} ops "
                f"delegated" + (f", {outside} on builtin kernels)" if outside else ")"))


def litert_delegation(ops: list[dict], requested: str) -> Delegation:
    """From LiteRT's node list. A delegated partition appends a DELEGATE node while the nodes it replaced stay
    in the list (out of the execution plan): the replaced nodes are those between the DELEGATE node's inputs
    and outputs."""
    original = [o for o in ops if o["op_name"] != "DELEGATE"]
    partitions = [o for o in ops if o["op_name"] == "DELEGATE"]
    producer = {int(t): o for o in original for t in o["outputs"]}
    covered: set[int] = set()
    for d in partitions:
        stop, stack = {int(t) for t in d["inputs"]}, [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            o = producer.get(t)
            if o is None or t in stop or o["index"] in covered:
                continue
            covered.add(o["index"])
            stack.extend(int(i) for i in o["inputs"] if i >= 0)
    left = [{"op": o["op_name"], "node": o["index"]} for o in original if o["index"] not in covered]
    return Delegation("litert", requested, len(partitions), len(covered), len(original), left)
