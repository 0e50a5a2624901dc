"""BBS's MySQL schema: the tables, keys and indexes of its migrations, as they stand today.

From BBS's ``init_sql`` migration and the ones after it: ``desired_lrps`` gained
``placement_tags``, ``max_pids`` and ``metric_tags``; ``actual_lrps`` replaced ``evacuating``
by ``presence`` in its primary key and gained ``internal_routes``, ``metric_tags``,
``routable`` and ``availability_zone``; ``configurations`` is created by BBS at start.
"""

from __future__ import annotations

from typing import Any

import pymysql

TABLES: dict[str, str] = {
    "domains": """CREATE TABLE domains(
        domain VARCHAR(255) PRIMARY KEY,
        expire_time BIGINT DEFAULT 0)""",
    "desired_lrps": """CREATE TABLE desired_lrps(
        process_guid VARCHAR(255) PRIMARY KEY,
        domain VARCHAR(255) NOT NULL,
        log_guid VARCHAR(255) NOT NULL,
        annotation MEDIUMTEXT,
        instances INT NOT NULL,
        memory_mb INT NOT NULL,
        disk_mb INT NOT NULL,
        max_pids INT NOT NULL DEFAULT 0,
        rootfs VARCHAR(255) NOT NULL,
        routes MEDIUMTEXT NOT NULL,
        volume_placement MEDIUMTEXT NOT NULL,
        modification_tag_epoch VARCHAR(255) NOT NULL,
        modification_tag_index INT,
        run_info LONGTEXT NOT NULL,
        placement_tags TEXT,
        metric_tags TEXT)""",
    "actual_lrps": """CREATE TABLE actual_lrps(
        process_guid VARCHAR(255),
        instance_index INT,
        presence INT NOT NULL DEFAULT 0,
        domain VARCHAR(255) NOT NULL,
        state VARCHAR(255) NOT NULL,
        instance_guid VARCHAR(255) NOT NULL DEFAULT '',
        cell_id VARCHAR(255) NOT NULL DEFAULT '',
        placement_error VARCHAR(255) NOT NULL DEFAULT '',
        since BIGINT DEFAULT 0,
        net_info MEDIUMTEXT NOT NULL,
        internal_routes MEDIUMTEXT,
        metric_tags MEDIUMTEXT,
        routable BOOL DEFAULT false,
        availability_zone VARCHAR(255) NOT NULL DEFAULT '',
        modification_tag_epoch VARCHAR(255) NOT NULL,
        modification_tag_index INT,
        crash_count INT NOT NULL DEFAULT 0,
        crash_reason VARCHAR(1024) NOT NULL DEFAULT '',
        expire_time BIGINT DEFAULT 0,
        PRIMARY KEY(process_guid, instance_index, presence))""",
    "tasks": """CREATE TABLE tasks(
        guid VARCHAR(255) PRIMARY KEY,
        domain VARCHAR(255) NOT NULL,
        updated_at BIGINT DEFAULT 0,
        created_at BIGINT DEFAULT 0,
        first_completed_at BIGINT DEFAULT 0,
        state INT,
        cell_id VARCHAR(255) NOT NULL DEFAULT '',
        result MEDIUMTEXT,
        failed BOOL DEFAULT false,
        failure_reason VARCHAR(1024) NOT NULL DEFAULT '',
        task_definition MEDIUMTEXT NOT NULL,
        rejection_count INT NOT NULL DEFAULT 0,
        rejection_reason VARCHAR(1024) NOT NULL DEFAULT '')""",
    "configurations": """CREATE TABLE configurations(
        id VARCHAR(255) PRIMARY KEY,
        value VARCHAR(255))""",
}

INDEXES: tuple[str, ...] = (
    "CREATE INDEX domains_expire_time_idx ON domains (expire_time)",
    "CREATE INDEX desired_lrps_domain_idx ON desired_lrps (domain)",
    "CREATE INDEX actual_lrps_domain_idx ON actual_lrps (domain)",
    "CREATE INDEX actual_lrps_cell_id_idx ON actual_lrps (cell_id)",
    "CREATE INDEX actual_lrps_since_idx ON actual_lrps (since)",
    "CREATE INDEX actual_lrps_state_idx ON actual_lrps (state)",
    "CREATE INDEX actual_lrps_expire_time_idx ON actual_lrps (expire_time)",
    "CREATE INDEX tasks_domain_idx ON tasks (domain)",
    "CREATE INDEX tasks_state_idx ON tasks (state)",
    "CREATE INDEX tasks_cell_id_idx ON tasks (cell_id)",
    "CREATE INDEX tasks_updated_at_idx ON tasks (updated_at)",
    "CREATE INDEX tasks_created_at_idx ON tasks (created_at)",
    "CREATE INDEX tasks_first_completed_at_idx ON tasks (first_completed_at)",
)

DOMAIN = "benchmark-bbs"
AUDITED_TABLES = ("domains", "desired_lrps", "actual_lrps")


def recreate(conn: pymysql.Connection[Any], database: str, *, domain_ttl_seconds: int = 864000) -> None:
    """Drop and create ``database`` with BBS's tables and indexes, and the benchmark's fresh domain.

    Each statement is DDL (Galera replicates it as total-order isolation), so every node ends
    with the same empty schema. ``conn`` must be an admin connection in autocommit mode.
    """
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(f"USE `{database}`")
        for ddl in TABLES.values():
            cur.execute(ddl)
        for ddl in INDEXES:
            cur.execute(ddl)
        cur.execute("INSERT INTO domains (domain, expire_time) VALUES (%s, UNIX_TIMESTAMP() * 1000000000 + %s)",
                    (DOMAIN, domain_ttl_seconds * 1_000_000_000))
        cur.execute("INSERT INTO configurations (id, value) VALUES ('bbs_id', 'benchmark-bbs')")
