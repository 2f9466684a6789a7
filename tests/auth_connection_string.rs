//! Connection string parsing: table tests of the rules and properties (never panics, never
//! echoes the key).

use azure_twins::auth::ConnectionString;
use azure_twins::{Credential, ErrorKind};
use proptest::prelude::*;

const KEY: &str = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMTIzNDU2Nzg=";

#[test]
fn accepts_a_service_connection_string() {
    let cs = ConnectionString::parse(&format!(
        "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
    ))
    .unwrap();
    assert_eq!(cs.host_name(), "myhub.azure-devices.net");
    assert_eq!(cs.shared_access_key_name(), "iothubowner");
    assert_eq!(cs.shared_access_key().expose_secret(), KEY);
    let emulator = ConnectionString::parse(&format!(
        "HostName=127.0.0.1:41234;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
    ))
    .unwrap();
    assert_eq!(emulator.host_name(), "127.0.0.1:41234");
}

#[test]
fn rejects_with_a_clear_message_naming_the_rule() {
    let cases = [
        ("", "is empty"),
        ("   ", "is empty"),
        ("HostName=h", "SharedAccessKeyName is missing"),
        (
            "HostName=h;SharedAccessKeyName=s",
            "SharedAccessKey is missing",
        ),
        (
            "HostName=h;SharedAccessKeyName=s;SharedAccessKeyName=t;SharedAccessKey=AAAA",
            "SharedAccessKeyName appears more than once",
        ),
        (
            "HostName=h.azure-devices.net;DeviceId=dev1;SharedAccessKey=AAAA",
            "device connection string",
        ),
        (
            "HostName=h.azure-devices.net;DeviceId=dev1;ModuleId=m;SharedAccessKey=AAAA",
            "device connection string",
        ),
        (
            "HostName=h;SharedAccessKeyName=s;SharedAccessKey=AAAA;GatewayHostName=g",
            "unknown part 'GatewayHostName'",
        ),
        (
            "HostName=h;SharedAccessKeyName=s;SharedAccessKey=@@@@",
            "not valid base64",
        ),
        (
            "HostName=h;SharedAccessKeyName=s;SharedAccessKey=",
            "SharedAccessKey is empty",
        ),
        (
            "HostName=h;SharedAccessKeyName=bad name;SharedAccessKey=AAAA",
            "SharedAccessKeyName must be",
        ),
        (
            "HostName=h/path;SharedAccessKeyName=s;SharedAccessKey=AAAA",
            "HostName must be",
        ),
        (
            "HostName=h;SharedAccessSignature=SharedAccessSignature sr=x",
            "Credential::sas_token",
        ),
    ];
    for (input, expected) in cases {
        let err = ConnectionString::parse(input).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "connection_string"),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains(expected), "{input}: {err}");
        assert!(Credential::from_connection_string(input).is_err());
    }
}

#[test]
fn a_key_pasted_in_the_wrong_place_is_not_echoed() {
    for input in [
        format!("HostName=h;SharedAccessKeyName=s;{KEY}"),
        format!("HostName=h;SharedAccessKeyName=s;SharedAccessKey={KEY};{KEY}"),
        format!("HostName=h;SharedAccessKeyName=s;SharedAccessKey={KEY}!"),
        format!("{KEY};HostName=h"),
    ] {
        let err = ConnectionString::parse(&input).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&KEY[..20]), "{shown}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary input never panics.
    #[test]
    fn never_panics(s in ".{0,200}") {
        let _ = ConnectionString::parse(&s);
    }

    /// Near-valid inputs (parts shuffled, duplicated, dropped, garbled) never panic, and neither
    /// the error's Display nor its Debug contains the key.
    #[test]
    fn errors_never_echo_the_key(
        key in "[A-Za-z0-9+/]{32,60}={0,2}",
        parts in proptest::collection::vec(0usize..8, 0..6),
        noise in "[ -~]{0,10}",
    ) {
        let pool = [
            "HostName=hub.azure-devices.net".to_string(),
            "SharedAccessKeyName=service".to_string(),
            format!("SharedAccessKey={key}"),
            format!("SharedAccessKey={key}{noise}"),
            key.clone(),
            format!("DeviceId=d;SharedAccessKey={key}"),
            format!("{noise}={key}"),
            noise.clone(),
        ];
        let input = parts.iter().map(|&i| pool[i].as_str()).collect::<Vec<_>>().join(";");
        match ConnectionString::parse(&input) {
            Ok(cs) => {
                let shown = format!("{:?}", cs);
                prop_assert!(!shown.contains(&key));
            }
            Err(e) => {
                let shown = format!("{e} || {e:?}");
                prop_assert!(!shown.contains(&key), "{}", shown);
                // Nor any long run of it (a key minus its padding).
                let stem = key.trim_end_matches('=');
                prop_assert!(!shown.contains(&stem[..24]), "{}", shown);
            }
        }
    }
}
