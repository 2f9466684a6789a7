//! IoT Hub connection strings: `ConnectionString::parse` and `Credential::from_connection_string`
//! (which decodes the key after parsing and must never disagree with the parser) never panic,
//! an accepted string re-parses from its parts, and the key never shows in `Debug`.
#![no_main]

use azure_twins::Credential;
use azure_twins::auth::ConnectionString;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ConnectionString::parse(s);
    let credential = Credential::from_connection_string(s);
    assert_eq!(
        parsed.is_ok(),
        credential.is_ok(),
        "parser and credential disagree"
    );
    if let Ok(cs) = parsed {
        let key = cs.shared_access_key().expose_secret().to_owned();
        let again = format!(
            "HostName={};SharedAccessKeyName={};SharedAccessKey={key}",
            cs.host_name(),
            cs.shared_access_key_name()
        );
        let re = ConnectionString::parse(&again).expect("an accepted string's parts re-parse");
        assert_eq!(re.host_name(), cs.host_name());
        assert_eq!(re.shared_access_key_name(), cs.shared_access_key_name());
        // The key must not show in Debug, unless it is text Debug shows anyway (the host, the
        // policy name, the type names): checked against the same string with another key.
        let other_key = "b3RoZXIta2V5LXZhbHVl";
        let other = ConnectionString::parse(&format!(
            "HostName={};SharedAccessKeyName={};SharedAccessKey={other_key}",
            cs.host_name(),
            cs.shared_access_key_name()
        ))
        .expect("same parts with another valid key");
        let other_cred = Credential::from(&other);
        if !format!("{other:?} {other_cred:?}").contains(&key) {
            assert!(!format!("{cs:?}").contains(&key), "key in Debug");
            assert!(
                !format!("{:?}", credential.unwrap()).contains(&key),
                "key in Debug"
            );
        }
    }
});
