//! Exec in the Engine API (1.44): create, start and inspect a process run in a container.

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    #[serde(deserialize_with = "nd")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stderr: bool,
    /// `[height, width]` of the tty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u32; 2]>,
    /// Overrides the detach sequence (`ctrl-p,ctrl-q`).
    #[serde(deserialize_with = "nd")]
    pub detach_keys: String,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    /// `NAME=value`, added to the container's.
    #[serde(deserialize_with = "nd")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub privileged: bool,
    /// Empty means the container's user.
    #[serde(deserialize_with = "nd")]
    pub user: String,
    /// Empty means the container's working directory.
    #[serde(deserialize_with = "nd")]
    pub working_dir: String,
    #[serde(deserialize_with = "nd")]
    pub cmd: Vec<String>,
}

/// The answer to `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateResponse {
    #[serde(deserialize_with = "nd")]
    pub id: String,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    /// Start and return at once, without attaching.
    #[serde(deserialize_with = "nd")]
    pub detach: bool,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    /// `[height, width]` of the tty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u32; 2]>,
}

/// The answer to `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    #[serde(rename = "ID", deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub running: bool,
    /// `None` while the process runs (Docker writes `null`).
    pub exit_code: Option<i64>,
    #[serde(deserialize_with = "nd")]
    pub process_config: ProcessConfig,
    #[serde(deserialize_with = "nd")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub open_stderr: bool,
    #[serde(deserialize_with = "nd")]
    pub open_stdout: bool,
    #[serde(deserialize_with = "nd")]
    pub can_remove: bool,
    #[serde(rename = "ContainerID", deserialize_with = "nd")]
    pub container_id: String,
    #[serde(deserialize_with = "nd")]
    pub detach_keys: String,
    /// The process's pid on the host; 0 before it starts.
    #[serde(deserialize_with = "nd")]
    pub pid: i64,
}

/// The process of an exec, as inspect shows it (lowercase names, as in Docker).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessConfig {
    #[serde(deserialize_with = "nd")]
    pub privileged: bool,
    #[serde(deserialize_with = "nd")]
    pub user: String,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    #[serde(deserialize_with = "nd")]
    pub entrypoint: String,
    #[serde(deserialize_with = "nd")]
    pub arguments: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_clis_exec_body_and_dockerds_inspect_read() {
        let config: ExecConfig = serde_json::from_str(
            r#"{"User":"","Privileged":false,"Tty":false,"ConsoleSize":[0,0],"AttachStdin":false,
            "AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"",
            "Env":null,"WorkingDir":"","Cmd":["echo","hi"]}"#,
        )
        .unwrap();
        assert_eq!(config.cmd, ["echo", "hi"]);
        assert!(config.env.is_empty() && config.attach_stdout && !config.attach_stdin);
        let inspect: ExecInspect = serde_json::from_str(
            r#"{"ID":"e1","Running":false,"ExitCode":7,"ProcessConfig":{"tty":false,
            "entrypoint":"sh","arguments":["-c","exit 7"],"privileged":false},"OpenStdin":false,
            "OpenStderr":true,"OpenStdout":true,"CanRemove":false,"ContainerID":"c1",
            "DetachKeys":"","Pid":42}"#,
        )
        .unwrap();
        assert_eq!((inspect.exit_code, inspect.pid), (Some(7), 42));
        assert_eq!(inspect.process_config.arguments, ["-c", "exit 7"]);
        let running: ExecInspect =
            serde_json::from_str(r#"{"ID":"e2","Running":true,"ExitCode":null}"#).unwrap();
        assert_eq!(running.exit_code, None);
        assert_eq!(
            serde_json::to_string(&ExecStartConfig {
                detach: true,
                ..Default::default()
            })
            .unwrap(),
            r#"{"Detach":true,"Tty":false}"#
        );
    }
}
