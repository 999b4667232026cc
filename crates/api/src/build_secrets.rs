//! How `berth build --secret` hands secrets to `POST /build`: one request header, never the
//! query (which dockerd and proxies log) nor the context tar (which a daemon that does not
//! know about secrets would unpack, and a `COPY . .` would then put in an image). The header
//! holds base64 of a JSON object mapping each secret's id to base64 of its bytes; a daemon that
//! does not know the header ignores it. berthd keeps the secrets in memory for the build and
//! writes each only to a private file under its exec root while a RUN that mounts it runs.

use std::collections::BTreeMap;

use base64::Engine as _;

/// The request header that carries a build's secrets.
pub const HEADER: &str = "X-Berth-Build-Secrets";

/// The most secret bytes one build may carry (the header must fit the server's request
/// buffer, with room for the other headers).
pub const MAX_TOTAL: usize = 128 << 10;

/// The header value for `secrets` (id → bytes).
pub fn encode(secrets: &BTreeMap<String, Vec<u8>>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let inner: BTreeMap<&str, String> = secrets
        .iter()
        .map(|(id, bytes)| (id.as_str(), b64.encode(bytes)))
        .collect();
    b64.encode(serde_json::to_vec(&inner).expect("string maps serialise"))
}

/// The secrets of a header value; the error says what is wrong without quoting the value.
pub fn decode(value: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |what: &str| format!("invalid {HEADER} header: {what}");
    let json = b64.decode(value.trim()).map_err(|_| bad("not base64"))?;
    let inner: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| bad("not a JSON object of strings"))?;
    inner
        .into_iter()
        .map(|(id, text)| {
            let bytes = b64
                .decode(&text)
                .map_err(|_| bad(&format!("the value of secret {id:?} is not base64")))?;
            Ok((id, bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_survive_the_round_trip_and_garbage_is_refused() {
        let secrets = BTreeMap::from([
            ("token".to_string(), b"s3cr3t\n".to_vec()),
            ("bin".to_string(), vec![0, 255, 10]),
        ]);
        assert_eq!(decode(&encode(&secrets)).unwrap(), secrets);
        assert!(decode("%%%").unwrap_err().contains("not base64"));
        assert!(decode(&encode(&BTreeMap::new())).unwrap().is_empty());
        let not_object = base64::engine::general_purpose::STANDARD.encode("[1]");
        assert!(decode(&not_object).unwrap_err().contains("JSON object"));
    }
}
