"""How the tooling reaches a deployment's services, from one place: the Galera admin's credentials
and each proxy's API (a :class:`~cf_mysql_consul.proxy.client.ProxyClient`).

Every value is what the job's templates see: the manifest's property (variables resolved by
the BOSH model) over the job spec's default. Works on any deployment, the lab's or a BOSH
director's (``Target.deployment``).
"""

from __future__ import annotations

from typing import Any

from cf_mysql_consul.proxy.client import ApiError, ProxyClient, ProxyEndpoint
from cf_mysql_consul_tools.bosh.manifest import Deployment, JobRef
from cf_mysql_consul_tools.bosh.releases import Catalog

# The Galera data-node jobs and where each keeps its admin user: cf-mysql-release's, pxc-release's.
MYSQL_ADMIN = {"mysql": ("cf_mysql.mysql.admin_username", "cf_mysql.mysql.admin_password"),
               "pxc-mysql": ("admin_username", "admin_password")}
CATALOG = Catalog()


class AccessError(LookupError):
    """The deployment lacks what was asked for (the message names the job or property)."""


def job_property(job: JobRef, name: str) -> Any:
    """What ``p(name)`` gives the job's templates: the manifest's value, else the spec's default."""
    spec = CATALOG.spec(job.release, job.name)
    if spec is not None:
        return spec.value(job.properties, name)
    node: Any = job.properties
    for key in name.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def mysql_admin(deployment: Deployment) -> tuple[str, str]:
    """(user, password) of the Galera admin, from the deployment's mysql (or pxc-mysql) job."""
    for job_name, (user, password) in MYSQL_ADMIN.items():
        for inst in deployment.with_job(job_name):
            job = inst.job(job_name)
            assert job is not None
            secret = job_property(job, password)
            if secret is None:
                raise AccessError(f"job '{job_name}' of instance group '{inst.group}' has no property '{password}'; "
                                  "set it in the manifest (a ((variable)) is fine)")
            return str(job_property(job, user)), str(secret)
    raise AccessError(f"deployment {deployment.name} runs no {' or '.join(MYSQL_ADMIN)} job: no Galera admin")


def proxy_endpoint(deployment: Deployment, name: str) -> ProxyEndpoint:
    """Where instance ``name``'s proxy API and health port answer, with the API's credentials."""
    inst = deployment.instance(name)
    job = inst.job("proxy")
    if job is None:
        raise AccessError(f"{name} runs no proxy job")
    return ProxyEndpoint(inst.address, str(job_property(job, "api_username")), str(job_property(job, "api_password")),
                         int(job_property(job, "api_port")), int(job_property(job, "health_port")))


def proxy_client(deployment: Deployment, name: str, *, timeout: float = 1.0) -> ProxyClient:
    """The API client of instance ``name``'s proxy."""
    return ProxyClient(proxy_endpoint(deployment, name), timeout=timeout)


def proxy_cluster(deployment: Deployment, name: str, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """Proxy ``name``'s ``GET /v0/cluster``, or None when it does not answer."""
    try:
        return proxy_client(deployment, name, timeout=timeout).cluster()
    except ApiError:
        return None


def serving(deployment: Deployment, *, timeout: float = 1.0) -> list[str]:
    """The proxies whose API says traffic is enabled right now, in deployment order."""
    return [i.name for i in deployment.with_job("proxy")
            if (doc := proxy_cluster(deployment, i.name, timeout=timeout)) is not None and doc.get("trafficEnabled")]


def active_backend(deployment: Deployment, name: str) -> str | None:
    """The Galera node (``mysql/0``) proxy ``name`` sends clients to, if it answers and has one."""
    backend = (proxy_cluster(deployment, name) or {}).get("activeBackend") or {}
    return str(backend["name"]) if backend.get("name") else None
