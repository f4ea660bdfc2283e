//! Cloud images: Autocloud's tests of them (`autocloud`) and their uploads to clouds
//! (`fedimg`).

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::Family;

pub struct Autocloud;
pub struct Fedimg;

const AUTOCLOUD: &str = "https://apps.fedoraproject.org/autocloud";

impl Family for Autocloud {
    fn summary(&self, msg: &Message) -> Option<String> {
        let name = msg.str_at(&["image_name"]);
        let release = msg.str_at(&["release"]);
        let of = || -> Option<String> {
            let mut s = format!("{} ({})", name?, release?);
            if let Some(c) = msg.str_at(&["compose_id"]) {
                s.push_str(&format!("({c})"));
            }
            Some(s)
        };
        Some(match msg.subtopic() {
            "image.queued" => format!("{} is queued for testing", name?),
            "image.running" => format!("The tests for the {} have started running", of()?),
            "image.success" => format!("The tests for {} were a success", of()?),
            "image.failed" => format!("The tests for {} were a failure", of()?),
            "image.aborted" => format!("The tests for the {} have been aborted", of()?),
            "compose.queued" | "compose.running" | "compose.complete" => {
                let what = match msg.str_at(&["id"]) {
                    Some(id) => id.to_owned(),
                    None => "A compose".to_owned(),
                };
                let state = match msg.subtopic() {
                    "compose.queued" => "have been queued",
                    "compose.running" => "have started running",
                    _ => "have completed",
                };
                format!("{what} tests {state}")
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let id = |k: &str| msg.get(&[k]).and_then(Value::as_i64);
        if let Some(job) = id("job_id") {
            return Some(format!("{AUTOCLOUD}/jobs/{job}/output"));
        }
        if let Some(job) = id("compose_job_id") {
            return Some(format!("{AUTOCLOUD}/jobs/{job}"));
        }
        Some(
            msg.str_at(&["image_url"])
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{AUTOCLOUD}/")),
        )
    }
}

/// `(ami-1234, HVM, gp2)`: what the cloud made of the image.
fn made(msg: &Message) -> Option<String> {
    let x = |k: &str| msg.str_at(&["extra", k]);
    Some(format!(
        " ({}, {}, {})",
        x("id")?,
        x("virt_type")?,
        x("vol_type")?
    ))
}

impl Family for Fedimg {
    fn summary(&self, msg: &Message) -> Option<String> {
        let name = msg.str_at(&["image_name"])?;
        let dest = msg.str_at(&["destination"])?;
        let status = msg.str_at(&["status"]);
        let extra = made(msg).unwrap_or_default();
        Some(match (msg.subtopic(), status) {
            ("image.upload", Some("started")) => format!("{name} started uploading to {dest}"),
            ("image.upload", Some("completed")) => {
                format!("{name} finished uploading to {dest}{extra}")
            }
            ("image.upload", Some("failed")) => format!("{name} failed to upload to {dest}"),
            ("image.test", Some("started")) => format!("{name} started testing on {dest}{extra}"),
            ("image.test", Some("completed")) => {
                format!("{name} finished testing on {dest}{extra}")
            }
            ("image.test", Some("failed")) => format!("{name} failed testing on {dest}{extra}"),
            ("image.publish", _) => format!("{name} published in region, {dest}{extra}"),
            ("image.copy", _) => format!(
                "{name} copied to {dest} using source image, {}{extra}",
                msg.str_at(&["extra", "source_image_id"])?
            ),
            _ => return None,
        })
    }
}

/// fedora-image-uploader, which publishes cloud images and containers
/// (`fedora_image_uploader`).
pub struct ImageUploader;

impl Family for ImageUploader {
    fn summary(&self, msg: &Message) -> Option<String> {
        let compose = msg.str_at(&["compose_id"])?;
        Some(match msg.subtopic() {
            "published.v1.aws" => format!(
                "fedora-image-uploader published AWS images from compose {compose} as {} in {} regions",
                msg.str_at(&["image_name"])?,
                msg.get(&["regions"])?.as_object()?.len()
            ),
            "published.v1.azure" => format!(
                "fedora-image-uploader published Azure image from compose {compose} as version {} to {}",
                msg.str_at(&["image_version_name"])?,
                msg.str_at(&["image_definition_name"])?
            ),
            "published.v1.container" => {
                let registries: Vec<&str> = msg
                    .get(&["registries"])?
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "fedora-image-uploader published container manifest from compose {compose} to {}.",
                    registries.join(", ")
                )
            }
            _ => return None,
        })
    }
}
