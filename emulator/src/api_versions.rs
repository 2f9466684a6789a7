//! The `api-version`s each emulated service serves, and which operations each version has.
//!
//! Both services take the version as the `api-version` query parameter of every request and serve
//! several versions side by side. The emulator speaks one wire format per service (IoT Hub
//! 2021-04-12, Digital Twins 2023-10-31) to every version it accepts: the versions listed here are
//! wire-compatible for the operations they have, and an operation a version lacks is refused.

/// IoT Hub service API versions the emulator accepts, oldest first.
///
/// What the official service SDKs send (their sources, read 2026):
/// - `2021-04-12`: .NET `Microsoft.Azure.Devices` (`ClientApiVersionHelper.ApiVersionDefault`),
///   Java `iot-service-client` (`TransportUtils.IOTHUB_API_VERSION`), Node `azure-iothub`
///   registry/twin/job calls (`azure-iot-common` `endpoint.apiVersion`), Python `azure-iot-hub`
///   2.7.0 (seen by `tests/other_sdks`), and this project's client;
/// - `2020-09-30`: Node `azure-iothub` digital-twin (PnP) calls (generated `pl` context), the C
///   service client (`iothub_registrymanager.c`, `iothub_deviceconfiguration.c`);
/// - `2020-03-13`: older Python `azure-iot-hub` releases' generated operations,
///   .NET `Azure.IoT.Hub.Service` preview (its recorded sessions);
/// - `2019-03-30`, `2018-06-30`: older .NET / Java / Node service SDK releases still in use.
///
/// The others are the hub's remaining GA and preview versions between those (2019-10-01,
/// 2020-05-31-preview, 2020-06-30) and the newer 2021-11-30; all share the 2021-04-12 wire
/// format for the operations the emulator serves.
pub const IOTHUB: &[&str] = &[
    "2018-06-30",
    "2019-03-30",
    "2019-10-01",
    "2020-03-13",
    "2020-05-31-preview",
    "2020-06-30",
    "2020-09-30",
    "2021-04-12",
    "2021-11-30",
];

/// Whether the emulated IoT Hub accepts `version`.
///
/// A request without an accepted version is answered as the hub answers it: 400 with
/// `iothub-errorcode: InvalidProtocolVersion` in the usual body,
/// `{"Message":"ErrorCode:InvalidProtocolVersion;…","ExceptionMessage":"Tracking ID:…"}` (seen from
/// real hubs in Azure/Industrial-IoT#708 and Azure/azure-iot-sdks#828; the hub's own text is just
/// `BadRequest`, the emulator names the version and the accepted ones).
pub fn iothub_accepts(version: &str) -> bool {
    IOTHUB.contains(&version)
}

/// One Digital Twins data-plane api-version and the optional parts of its surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtVersion {
    /// The `api-version` value.
    pub name: &'static str,
    /// Import jobs: `/jobs/imports`, `/jobs/imports/{id}`, `/jobs/imports/{id}/cancel`.
    pub import_jobs: bool,
    /// Delete jobs: `/jobs/deletions`, `/jobs/deletions/{id}`.
    pub delete_jobs: bool,
}

/// Digital Twins data-plane versions the emulator serves, oldest first.
///
/// Surfaces, from the specs (Azure/azure-rest-api-specs
/// `specification/digitaltwins/data-plane/Microsoft.DigitalTwins/stable/<version>`):
/// - `2020-10-31`: models, twins, components, relationships, telemetry, query, event routes
///   (the repository's copy, `tests/fixtures/specs/older/digitaltwins-2020-10-31.json`);
/// - `2022-05-31`: the same operations (upstream examples have no jobs; its API review,
///   Azure/azure-rest-api-specs#18792, states no API change from 2021-06-30-preview, the version
///   that added `sourceTime`);
/// - `2023-06-30`: adds import jobs (upstream `ImportJob*` examples, no `DeleteJob*`; same
///   operations as `tests/fixtures/specs/older/digitaltwins-2023-02-27-preview.json`);
/// - `2023-10-31`: adds delete jobs (`specs/digitaltwins/2023-10-31/digitaltwins.json`).
///
/// Wire differences inside the shared operations are not emulated: every version gets the
/// 2023-10-31 shapes (e.g. root `$metadata.$lastUpdateTime`, which 2020-10-31 responses lack).
pub const DIGITAL_TWINS: &[AdtVersion] = &[
    AdtVersion {
        name: "2020-10-31",
        import_jobs: false,
        delete_jobs: false,
    },
    AdtVersion {
        name: "2022-05-31",
        import_jobs: false,
        delete_jobs: false,
    },
    AdtVersion {
        name: "2023-06-30",
        import_jobs: true,
        delete_jobs: false,
    },
    AdtVersion {
        name: "2023-10-31",
        import_jobs: true,
        delete_jobs: true,
    },
];

/// The Digital Twins data-plane api-versions the emulator serves, oldest first.
///
/// `2020-10-31` and `2022-05-31` have models, twins, components, relationships, telemetry,
/// query and event routes; `2023-06-30` adds import jobs (`/jobs/imports`), `2023-10-31` delete
/// jobs (`/jobs/deletions`); an operation a version lacks is refused on that version. Every
/// version gets the 2023-10-31 wire shapes.
pub const DIGITAL_TWINS_NAMES: &[&str] = &["2020-10-31", "2022-05-31", "2023-06-30", "2023-10-31"];

/// The newest Digital Twins version: the one links are built with outside a request.
pub const DIGITAL_TWINS_LATEST: &str = "2023-10-31";

/// The served Digital Twins version named `version`, if any.
pub fn digital_twins(version: &str) -> Option<&'static AdtVersion> {
    DIGITAL_TWINS.iter().find(|v| v.name == version)
}

/// The served Digital Twins version names, comma-separated (for error messages).
pub fn digital_twins_list() -> String {
    DIGITAL_TWINS
        .iter()
        .map(|v| v.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl AdtVersion {
    /// Whether this version has the operations under `path` (a request path, not decoded).
    /// Paths outside the optional families are in every version; a path no version has is left
    /// to the router (404).
    pub fn has_path(&self, path: &str) -> bool {
        let lower = path.to_ascii_lowercase();
        let under = |prefix: &str| {
            lower == prefix
                || lower
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if under("/jobs/imports") {
            self.import_jobs
        } else if under("/jobs/deletions") {
            self.delete_jobs
        } else {
            true
        }
    }
}

/// Whether `version` is well-formed as the service's API-versioning layer parses it: a date
/// group version `YYYY-MM-DD` with an optional `-status` (`2023-02-27-preview`), or a numeric
/// `major[.minor][-status]` (`1.0`). A malformed one gets 400 `InvalidApiVersion`, a well-formed
/// one that is not served 400 `UnsupportedApiVersion` (the ASP.NET API Versioning error codes;
/// which of the two the service sends for a malformed value is unconfirmed).
pub fn is_well_formed(version: &str) -> bool {
    let (core, status) = match version.split_once('-') {
        Some((y, rest)) if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
            // Date form: YYYY-MM-DD[-status]
            let mut parts = rest.splitn(3, '-');
            let (m, d, status) = (parts.next(), parts.next(), parts.next());
            let two = |s: Option<&str>| {
                s.is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            };
            if !(two(m) && two(d)) {
                return false;
            }
            return status.is_none_or(status_ok);
        }
        Some((core, status)) => (core, Some(status)),
        None => (version, None),
    };
    let mut nums = core.split('.');
    let numeric =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let major_ok = numeric(nums.next());
    let minor_ok = nums.next().is_none_or(|m| numeric(Some(m)));
    major_ok && minor_ok && nums.next().is_none() && status.is_none_or(status_ok)
}

fn status_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_list_every_version() {
        let names: Vec<&str> = DIGITAL_TWINS.iter().map(|v| v.name).collect();
        assert_eq!(names, DIGITAL_TWINS_NAMES);
    }

    #[test]
    fn surfaces_follow_the_specs() {
        let v = |n| digital_twins(n).unwrap();
        assert!(!v("2020-10-31").has_path("/jobs/imports"));
        assert!(!v("2022-05-31").has_path("/jobs/imports/j1/cancel"));
        assert!(v("2023-06-30").has_path("/jobs/imports/j1"));
        assert!(!v("2023-06-30").has_path("/jobs/deletions"));
        assert!(v("2023-10-31").has_path("/Jobs/Deletions/d1"));
        assert!(v("2020-10-31").has_path("/jobs/importsx"));
        assert!(v("2020-10-31").has_path("/digitaltwins/t1"));
        assert!(digital_twins("2023-02-27-preview").is_none());
    }

    #[test]
    fn version_forms() {
        for ok in [
            "2023-10-31",
            "2023-02-27-preview",
            "1999-01-01",
            "1.0",
            "2",
            "2.1-beta",
        ] {
            assert!(is_well_formed(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "2023-1-31",
            "2023-10-31-",
            "2023-10",
            "1.",
            "1.0.0",
            "v1",
            "2023-10-31-a.b",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }
}
