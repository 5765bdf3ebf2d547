//! The `sendmail` transport: hands the message to the local MTA's
//! `sendmail` command (Postfix, Exim, msmtp…), which relays it to the
//! organisation's smarthost. The command line is the one every sendmail
//! understands and lettre's sendmail transport uses: `-i -f FROM -- RCPT…`,
//! the message on standard input. arshjul runs it itself rather than
//! through lettre because lettre drops the exit status, and the status is
//! what tells a message the MTA will never take (sysexits `EX_DATAERR` 65,
//! `EX_NOUSER` 67, `EX_NOHOST` 68: permanent) from one it cannot take now
//! (every other failure, `EX_TEMPFAIL` 75 included: temporary).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lettre::address::Envelope;
use tokio::io::AsyncWriteExt;

use super::oauth::server_text;
use super::transport::Trace;
use super::{DeliveryError, MailError};
use crate::settings::MailSettings;

pub struct Sendmail {
    command: PathBuf,
    timeout: Duration,
}

impl Sendmail {
    pub fn new(settings: &MailSettings) -> Result<Sendmail, MailError> {
        let command = settings.sendmail.command.clone();
        if command.as_os_str().is_empty() {
            return Err(MailError::Setup(
                "setting `mail.sendmail.command` is empty".into(),
            ));
        }
        if settings.smtp.timeout_secs == 0 {
            return Err(MailError::Setup(
                "setting `mail.smtp.timeout_secs` must be at least 1".into(),
            ));
        }
        Ok(Sendmail {
            command,
            timeout: Duration::from_secs(settings.smtp.timeout_secs),
        })
    }

    pub async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        trace: Trace<'_>,
    ) -> Result<(), DeliveryError> {
        let shown = self.command.display().to_string();
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.arg("-i");
        if let Some(from) = envelope.from() {
            cmd.arg("-f").arg(from);
        }
        cmd.arg("--")
            .args(envelope.to())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = async {
            let mut child = cmd.spawn().map_err(|e| {
                DeliveryError::Temporary(format!("sendmail command {shown}: cannot run it: {e}"))
            })?;
            trace(&format!(
                "started {shown} -i -f {} -- {}",
                envelope.from().map(|a| a.to_string()).unwrap_or_default(),
                envelope
                    .to()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            if let Some(mut stdin) = child.stdin.take() {
                // A command that exits early closes its input; its exit
                // status then says why, so a failed write is not the error.
                let _ = stdin.write_all(raw).await;
                drop(stdin);
            }
            child
                .wait_with_output()
                .await
                .map_err(|e| DeliveryError::Temporary(format!("sendmail command {shown}: {e}")))
        };
        let output = match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(DeliveryError::Temporary(format!(
                    "sendmail command {shown} did not finish within {} s",
                    self.timeout.as_secs()
                )))
            }
        };
        if output.status.success() {
            trace(&format!("accepted: {shown} exited with status 0"));
            return Ok(());
        }
        let said = server_text(&String::from_utf8_lossy(&output.stderr));
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        match output.status.code() {
            Some(code @ (65 | 67 | 68)) => Err(DeliveryError::Permanent(format!(
                "sendmail command {shown} refused the message (exit status {code}){said}"
            ))),
            Some(code) => Err(DeliveryError::Temporary(format!(
                "sendmail command {shown} failed (exit status {code}){said}"
            ))),
            None => Err(DeliveryError::Temporary(format!(
                "sendmail command {shown} was killed by a signal{said}"
            ))),
        }
    }
}
