-- pgbench script: prepared SELECT 1 round trips, as PostgresBench's pg.select1.swift (no commit cost).
SELECT 1;
