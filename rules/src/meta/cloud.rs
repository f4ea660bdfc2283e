//! Cloud images: Autocloud's tests of them (`autocloud`), their uploads to clouds
//! (`fedimg`), and fedora-image-uploader's publications (`fedora_image_uploader`).

use fmn_rules_sdk::Message;

use super::Family;
use super::py::{join, py_len, py_str, truthy_at};

pub(super) struct Autocloud;
pub(super) struct Fedimg;

const AUTOCLOUD: &str = "https://apps.fedoraproject.org/autocloud";
const FEDIMG_ICON: &str = "https://apps.fedoraproject.org/img/icons/fedimg.png";

// ---- autocloud ------------------------------------------------------------------------

/// Autocloud changed its messages when it started testing composes: the second version
/// names the compose.
fn autocloud_v2(msg: &Message) -> bool {
    msg.get(&["compose_id"]).is_some()
        || msg.get(&["compose_job_id"]).is_some()
        || msg.topic().contains("autocloud.compose")
}

/// An image test's sentence; `image` is the image's name as shown (with its compose).
fn image_sentence(status: &str, image: &str) -> Option<String> {
    Some(match status {
        "queued" => format!("{image} is {status} for testing"),
        "running" => format!("The tests for the {image} have started {status}"),
        "aborted" => format!("The tests for the {image} have been {status}"),
        "failed" => format!("The tests for the {image} {status}"),
        "success" => format!("The tests for {image} were a {status}"),
        _ => return None,
    })
}

fn autocloud_image_name(msg: &Message) -> Option<String> {
    let name = py_str(msg.get(&["image_name"])?);
    Some(match msg.get(&["release"]) {
        Some(r) if truthy_at(Some(r)) => format!("{name} ({})", py_str(r)),
        _ => name,
    })
}

fn autocloud_v2_summary(msg: &Message, status: &str) -> Option<String> {
    let topic = msg.topic();
    if topic.contains("autocloud.image") {
        let compose = py_str(msg.get(&["compose_id"])?);
        let image = format!("{}({compose})", autocloud_image_name(msg)?);
        return image_sentence(status, &image);
    }
    if !topic.contains("autocloud.compose") {
        return None;
    }
    let compose = match (msg.get(&["id"]), msg.get(&["compose_id"])) {
        (Some(id), _) | (None, Some(id)) => py_str(id),
        (None, None) => "A compose".to_owned(),
    };
    Some(match status {
        "queued" => format!("{compose} is {status} for testing"),
        "running" => format!("{compose} tests have started {status}"),
        "completed" => format!("{compose} tests have {status}"),
        _ => return None,
    })
}

impl Family for Autocloud {
    /// The definitions name nobody.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let status = py_str(msg.get(&["status"])?);
        if autocloud_v2(msg) {
            return autocloud_v2_summary(msg, &status);
        }
        let image = autocloud_image_name(msg)?;
        if !msg.topic().contains("autocloud.image") {
            return None;
        }
        image_sentence(&status, &image)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let topic = msg.topic();
        let image = !autocloud_v2(msg) || topic.contains("autocloud.image");
        if image {
            return match msg.get(&["job_id"]) {
                Some(job) if truthy_at(Some(job)) => {
                    Some(format!("{AUTOCLOUD}/jobs/{}/output", py_str(job)))
                }
                _ => msg.str_at(&["image_url"]).map(str::to_owned),
            };
        }
        if topic.contains("autocloud.compose")
            && let Some(job) = msg.get(&["compose_job_id"]).filter(|j| !j.is_null())
        {
            return Some(format!("{AUTOCLOUD}/jobs/{}", py_str(job)));
        }
        Some(format!("{AUTOCLOUD}/"))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(FEDIMG_ICON.to_owned())
    }
}

// ---- fedimg ---------------------------------------------------------------------------

impl Family for Fedimg {
    /// The definitions name nobody.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let name = py_str(msg.get(&["image_name"])?);
        let dest = py_str(msg.get(&["destination"])?);
        let extra = msg.get(&["extra"]);
        if extra.is_some_and(|e| !e.is_object()) {
            return None;
        }
        let x = |k: &str| {
            extra
                .and_then(|e| e.get(k))
                .map_or_else(|| "None".to_owned(), py_str)
        };
        let made = format!("({}, {}, {})", x("id"), x("virt_type"), x("vol_type"));
        let topic = msg.topic();
        let status = || msg.get(&["status"]).map(|s| s.as_str());
        if topic.contains("image.upload") {
            match status()? {
                Some("started") => return Some(format!("{name} started uploading to {dest}")),
                Some("completed") => {
                    return Some(format!("{name} finished uploading to {dest} {made}"));
                }
                Some("failed") => return Some(format!("{name} failed to upload to {dest}")),
                _ => {}
            }
        }
        if topic.contains("image.test") {
            return match status()? {
                Some("started") => Some(format!("{name} started testing on {dest} {made}")),
                Some("completed") => Some(format!("{name} finished testing on {dest} {made}")),
                Some("failed") => Some(format!("{name} failed testing on {dest} {made}")),
                // An unknown status leaves fedmsg.meta with an empty template.
                _ => None,
            };
        }
        if topic.contains("image.publish") {
            return Some(format!("{name} published in region, {dest} {made}"));
        }
        if topic.contains("image.copy") {
            return Some(format!(
                "{name} copied to {dest} using source image, {} {made}",
                x("source_image_id")
            ));
        }
        None
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(FEDIMG_ICON.to_owned())
    }
}

// ---- fedora-image-uploader ------------------------------------------------------------

/// fedora-image-uploader, which publishes cloud images and containers
/// (`fedora_image_uploader`).
pub(super) struct ImageUploader;

const UPLOADER: &str = "fedora-image-uploader";

fn uploader_summary(msg: &Message) -> Option<String> {
    let at = |k: &str| msg.get(&[k]).map(py_str);
    let compose = at("compose_id")?;
    Some(match msg.subtopic() {
        "published.v1.aws" => format!(
            "{UPLOADER} published AWS images from compose {compose} as {} in {} regions",
            at("image_name")?,
            py_len(msg.get(&["regions"])?)?
        ),
        "published.v1.azure" => format!(
            "{UPLOADER} published Azure image from compose {compose} as version {} to {}",
            at("image_version_name")?,
            at("image_definition_name")?
        ),
        "published.v1.container" => format!(
            "{UPLOADER} published container manifest from compose {compose} to {}.",
            join(msg.get(&["registries"])?, ", ")?
        ),
        "published.v1.gcp" => format!(
            "{UPLOADER} published the {} image from compose {compose} to the {} family in \
             Google Cloud Platform",
            at("architecture")?,
            at("family")?
        ),
        _ => return None,
    })
}

/// The long text's lines (`\tName: value`), each value as the class prints it.
fn uploader_lines(msg: &Message) -> Option<Vec<(&'static str, String)>> {
    let at = |k: &str| msg.get(&[k]).map(py_str);
    let join = |k: &str| join(msg.get(&[k])?, ", ");
    Some(match msg.subtopic() {
        "published.v1.aws" => {
            let regions = msg.get(&["regions"])?.as_object()?;
            let pairs: Vec<String> = regions
                .iter()
                .map(|(region, id)| format!("{region} as {}", py_str(id)))
                .collect();
            vec![
                ("Architecture", at("architecture")?),
                ("Compose ID", at("compose_id")?),
                ("Image Name", at("image_name")?),
                ("Regions", pairs.join(", ")),
            ]
        }
        "published.v1.azure" => vec![
            ("Architecture", at("architecture")?),
            ("Compose ID", at("compose_id")?),
            ("Image Definition Name", at("image_definition_name")?),
            ("Image Version Name", at("image_version_name")?),
            ("Image Resource ID", at("image_resource_id")?),
            ("Regions", join("regions")?),
        ],
        "published.v1.container" => vec![
            ("Compose ID", at("compose_id")?),
            ("Registries", join("registries")?),
            ("Repository", at("repository")?),
            ("Tags", join("tags")?),
            ("Architectures", join("architectures")?),
        ],
        "published.v1.gcp" => vec![
            ("Architecture", at("architecture")?),
            ("Compose ID", at("compose_id")?),
            ("Family", at("family")?),
            ("Image Name", at("image_name")?),
            ("Image URL", at("image_url")?),
        ],
        _ => return None,
    })
}

impl Family for ImageUploader {
    /// The definitions name nobody.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        uploader_summary(msg)
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        let heading = match msg.subtopic() {
            "published.v1.aws" => "A new image has been published to Amazon Web Services:",
            "published.v1.azure" => "A new image has been published to the Azure image gallery:",
            "published.v1.container" => "A new container manifest has been published:",
            "published.v1.gcp" => "A new image has been published to Google Cloud Platform:",
            _ => return None,
        };
        let mut out = format!("{heading}\n\n");
        for (name, value) in uploader_lines(msg)? {
            out.push_str(&format!("\t{name}: {value}\n"));
        }
        Some(out)
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some(UPLOADER.to_owned())
    }
}
