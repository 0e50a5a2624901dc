"""The lab's deployment: a BOSH manifest read through the BOSH model, plus what the lab needs.

The manifest (the lab's own by default), its ops files and variables go through
:func:`cf_mysql_consul_tools.bosh.manifest.load` (``bosh int``, then the parsed deployment). On
top, the lab needs every instance on a static loopback address (each instance's services keep
their production ports), and can move every address into another /24 (``address_prefix``) so
that a second lab runs beside the first with the same manifest.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.bosh.manifest import Deployment, ManifestError, load
from cf_mysql_consul_tools.bosh.ops import Operation, OpsError
from cf_mysql_consul_tools.bosh.variables import VariablesError, VarsStore

DEFAULT_MANIFEST = Path(__file__).parent / "manifests" / "lab.yml"


def _moved(address: str, prefix: str | None) -> str:
    return prefix.rstrip(".") + "." + address.rsplit(".", 1)[1] if prefix else address


def load_lab_deployment(path: Path | None = None, *, address_prefix: str | None = None,
                        ops: Sequence[Path | Operation] = (), given: Mapping[str, Any] | None = None,
                        store: VarsStore | None = None) -> Deployment:
    """The deployment of ``path`` (the lab's default manifest when None) for the lab.

    ``address_prefix`` (e.g. ``127.0.11``) moves every static IP into that /24, keeping the last
    octet. ManifestError naming the field and the fix when the manifest, its ops or its
    variables do not give every instance its own loopback address.
    """
    path = path or DEFAULT_MANIFEST
    try:
        deployment = load(path, ops, given=given, store=store)
    except (OpsError, VariablesError) as exc:
        raise ManifestError(str(exc)) from None
    instances = []
    seen: dict[str, str] = {}
    for inst in deployment.instances:
        where = f"instance_groups.{inst.group}.networks"
        if not inst.address:
            raise ManifestError(f"{where}: the lab needs a static IP for {inst.name}; give each instance one such "
                                "as 127.0.10.N under static_ips")
        address = _moved(inst.address, address_prefix)
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            raise ManifestError(f"{where}: '{address}' is not an IP address") from None
        if not loopback:
            raise ManifestError(f"{where}: the lab only uses loopback addresses (127.0.0.0/8), got {address}; "
                                "give each instance a static IP such as 127.0.10.N")
        if address in seen:
            raise ManifestError(f"{where}: address {address} is already used by {seen[address]}")
        seen[address] = inst.name
        instances.append(replace(inst, address=address))
    return replace(deployment, instances=tuple(instances))
