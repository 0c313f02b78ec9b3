//! End-to-end tests of the `keel` binary: real model directories, real data
//! files and real Python workers, in embedded mode and against a real server;
//! git-backed models from local bare repositories; two servers on one
//! PostgreSQL database.

mod access;
mod chaos;
mod conventions;
mod failures;
mod git;
mod jobs;
mod mlflow;
mod monitor;
mod objects;
mod platform;
mod quality;
mod registry;
mod server;
mod support;
mod team;
