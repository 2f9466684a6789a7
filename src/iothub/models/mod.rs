//! The documents IoT Hub sends and receives: twins, identities, jobs, configurations,
//! statistics — the generated `raw::iothub::types`, re-exported here as the facade's models, with
//! their helpers as inherent `impl` blocks (one file per area).
//!
//! They are fitted to be the wire types by the codegen fixups in `codegen/src/fixups/shapes.rs`:
//! etags are [`crate::ETag`], symmetric keys [`crate::auth::Secret`] (nothing secret in `Debug`),
//! times the lenient [`crate::iothub::Timestamp`], job type and status open enums ([`JobType`],
//! [`JobStatus`], substituted into generation), ids the service always sends are required, and
//! unknown fields survive a read-modify-write in each document's flattened `extra` map. Only what
//! is re-exported here is covered by semver; the rest of `raw` is not.

mod bulk;
mod configuration;
mod identity;
mod job;
mod messaging;
mod method;
mod statistics;
mod twin;

pub use crate::etag::Versioned;
pub use bulk::*;
pub use configuration::*;
pub use identity::*;
pub use job::*;
pub use messaging::*;
pub use method::*;
pub use statistics::*;
pub use twin::*;

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::iothub::Timestamp;
    use serde_json::json;

    #[test]
    fn recorded_twin_parses() {
        let v = json!({"deviceId":"d","moduleId":"m","etag":"AAAAAAAAAAE=","deviceEtag":"NDkzNDUwMTM0",
            "status":"enabled","statusUpdateTime":"0001-01-01T00:00:00Z","connectionState":"Disconnected",
            "lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,"authenticationType":"sas",
            "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"version":2,
            "tags": {"site": "berlin", "n": 1},
            "properties":{"desired":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1},
            "reported":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1}}});
        let t: Twin = serde_json::from_value(v).unwrap();
        assert_eq!(t.etag.as_ref().unwrap().as_header(), "\"AAAAAAAAAAE=\"");
        assert_eq!(t.desired_version(), Some(1));
        assert_eq!(t.tags["site"], "berlin");
        assert!(t.status_update_time.is_some_and(|t| t.is_never()));
        // Round trip writes the etag unquoted, as IoT Hub bodies carry it.
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["tags"]["n"], 1);
        assert_eq!(back["etag"], "AAAAAAAAAAE=");
    }

    #[test]
    fn recorded_device_parses_and_hides_keys() {
        let v = json!({"deviceId":"d","generationId":"6","etag":"NTM2NjA4OTE1","connectionState":"Disconnected",
            "status":"enabled","statusReason":null,"connectionStateUpdatedTime":"0001-01-01T00:00:00",
            "statusUpdatedTime":"0001-01-01T00:00:00","lastActivityTime":"0001-01-01T00:00:00",
            "cloudToDeviceMessageCount":0,"authentication":{"symmetricKey":{"primaryKey":"c2VjcmV0a2V5","secondaryKey":"b3RoZXI="},
            "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"type":"sas"},"capabilities":{"iotEdge":false}});
        let d: Device = serde_json::from_value(v).unwrap();
        assert_eq!(d.primary_key().unwrap().expose_secret(), "c2VjcmV0a2V5");
        assert!(!format!("{d:?}").contains("c2VjcmV0a2V5"));
        assert_eq!(
            d.last_activity_time.unwrap().to_rfc3339(),
            "0001-01-01T00:00:00+00:00"
        );
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(
            back["authentication"]["symmetricKey"]["primaryKey"],
            "c2VjcmV0a2V5"
        );
    }

    #[test]
    fn job_status_and_type_are_open() {
        let j: Job = serde_json::from_value(
            json!({"jobId":"j","type":"scheduleUpdateTwin","status":"completed",
            "deviceJobStatistics":{"deviceCount":2,"succeededCount":2}}),
        )
        .unwrap();
        assert_eq!(j.type_, Some(JobType::ScheduleUpdateTwin));
        assert!(j.status.as_ref().unwrap().is_terminal());
        let j: Job =
            serde_json::from_value(json!({"jobId":"j","type":"backup","status":"weird"})).unwrap();
        assert_eq!(j.type_, Some(JobType::Other("backup".into())));
        assert_eq!(j.status, Some(JobStatus::Other("weird".into())));
        assert!(!JobStatus::Scheduled.is_terminal());
        let j: Job =
            serde_json::from_value(json!({"jobId":"j","type":"export","status":"running"}))
                .unwrap();
        assert_eq!(j.type_, Some(JobType::Export));
    }

    #[test]
    fn import_export_job_parses() {
        let j: ImportExportJob = serde_json::from_value(json!({"jobId":"e1","type":"export",
            "status":"completed","progress":100,"startTimeUtc":"2026-12-03T05:00:00Z",
            "outputBlobContainerUri":"https://a.blob.core.windows.net/c?sig=x","excludeKeysInExport":true}))
        .unwrap();
        assert_eq!(j.job_type(), JobType::Export);
        assert_eq!(j.job_status(), JobStatus::Completed);
        assert!(j.job_status().is_terminal());
        assert_eq!(j.progress, Some(100));
        assert_eq!(ImportExportJob::default().job_status(), JobStatus::Unknown);
    }
}
