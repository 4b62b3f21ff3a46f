//! The disaster-recovery playbooks of `playbooks/`, run for real through the binary: against a
//! `PostgreSQL` server started for the tests, a local S3-compatible server (moto) driven with the
//! aws CLI, `SQLite` files and local HTTP services. A missing tool fails with the command that
//! installs it.

mod postgres;
mod s3;
mod scenario;
mod services;
mod tools;

mod backup_corruption_scan;
mod backup_health;
mod config_backup;
mod credential_rotation;
mod dr_test;
mod emergency_recovery;
mod health_reports;
mod pitr_restore;
mod postgres_backup;
mod postgres_restore;
mod postgres_restore_drill;
mod service_recovery;
mod sqlite;
