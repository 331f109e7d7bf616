//! The bytes of meeting artifacts: WebVTT transcripts (and their `metadataContent`) and small
//! but structurally valid MP4 recordings.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// One utterance of a transcript, in milliseconds from the start of transcription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: String,
    pub text: String,
}

/// `HH:MM:SS.mmm`, the WebVTT timestamp form.
fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A WebVTT transcript: the `WEBVTT` header, then one cue per utterance with a `<v Speaker>`
/// voice tag, as Teams writes them.
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for c in cues {
        // Voice annotations end at '>', so a name cannot carry one.
        let speaker = c.speaker.replace(['>', '\n'], " ");
        out.push_str(&format!(
            "\n{} --> {}\n<v {speaker}>{}</v>\n",
            vtt_time(c.start_ms),
            vtt_time(c.end_ms),
            c.text.replace('\n', " ")
        ));
    }
    out
}

/// The transcript's `metadataContent`: the same cues, each with one JSON object giving the
/// utterance's absolute times, speaker, text and language.
pub fn metadata_vtt(start: DateTime<Utc>, cues: &[Cue]) -> String {
    let at = |ms: u64| {
        let t = start + Duration::milliseconds(ms as i64);
        // Graph's sample writes seven fractional digits and an explicit offset.
        format!(
            "{}.{:07}+00:00",
            t.format("%Y-%m-%dT%H:%M:%S"),
            t.timestamp_subsec_nanos() / 100
        )
    };
    let mut out = String::from("WEBVTT\n");
    for c in cues {
        let meta = json!({
            "startDateTime": at(c.start_ms),
            "endDateTime": at(c.end_ms),
            "speakerName": c.speaker,
            "spokenText": c.text,
            "spokenLanguage": "en-us",
        });
        out.push_str(&format!(
            "\n{} --> {}\n{meta}\n",
            vtt_time(c.start_ms),
            vtt_time(c.end_ms)
        ));
    }
    out
}

fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// A "full box": version 0 and 24 bits of flags before the payload.
fn full_box(kind: &[u8; 4], flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = (flags & 0x00ff_ffff).to_be_bytes().to_vec();
    p.extend_from_slice(payload);
    mp4_box(kind, &p)
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// The unity transformation matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// A minimal ISO base media (MP4) file: `ftyp`, then `moov` with a movie header and one audio
/// track whose sample tables are empty, then `mdat` holding `payload`. Players open it as a
/// recording of `duration_ms`; it is a few hundred bytes.
pub fn mp4(created: DateTime<Utc>, duration_ms: u64, payload: &[u8]) -> Vec<u8> {
    // MP4 times count seconds from 1904-01-01.
    let t = u32::try_from(created.timestamp() + 2_082_844_800).unwrap_or(0);
    let duration = u32::try_from(duration_ms).unwrap_or(u32::MAX);
    let timescale = 1000;

    let mut ftyp = b"isom".to_vec();
    ftyp.extend_from_slice(&0x200u32.to_be_bytes());
    ftyp.extend_from_slice(b"isomiso2mp41");

    let mut mvhd = u32s(&[t, t, timescale, duration, 0x0001_0000]);
    mvhd.extend_from_slice(&[0x01, 0x00, 0, 0]); // volume 1.0, reserved
    mvhd.extend_from_slice(&[0; 8]);
    mvhd.extend_from_slice(&u32s(&MATRIX));
    mvhd.extend_from_slice(&[0; 24]); // pre_defined
    mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id

    let mut tkhd = u32s(&[t, t, 1, 0, duration, 0, 0]);
    tkhd.extend_from_slice(&[0, 0, 0, 0, 0x01, 0x00, 0, 0]); // layer, group, volume, reserved
    tkhd.extend_from_slice(&u32s(&MATRIX));
    tkhd.extend_from_slice(&u32s(&[0, 0])); // width, height: audio

    let mut mdhd = u32s(&[t, t, timescale, duration]);
    mdhd.extend_from_slice(&[0x55, 0xc4, 0, 0]); // language 'und', pre_defined

    let mut hdlr = u32s(&[0]);
    hdlr.extend_from_slice(b"soun");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(b"SoundHandler\0");

    let dref = full_box(
        b"dref",
        0,
        &[&1u32.to_be_bytes()[..], &full_box(b"url ", 1, &[])].concat(),
    );
    let stbl = mp4_box(
        b"stbl",
        &[
            full_box(b"stsd", 0, &u32s(&[0])),
            full_box(b"stts", 0, &u32s(&[0])),
            full_box(b"stsc", 0, &u32s(&[0])),
            full_box(b"stsz", 0, &u32s(&[0, 0])),
            full_box(b"stco", 0, &u32s(&[0])),
        ]
        .concat(),
    );
    let minf = mp4_box(
        b"minf",
        &[full_box(b"smhd", 0, &[0; 4]), mp4_box(b"dinf", &dref), stbl].concat(),
    );
    let mdia = mp4_box(
        b"mdia",
        &[
            full_box(b"mdhd", 0, &mdhd),
            full_box(b"hdlr", 0, &hdlr),
            minf,
        ]
        .concat(),
    );
    let trak = mp4_box(b"trak", &[full_box(b"tkhd", 3, &tkhd), mdia].concat());
    let moov = mp4_box(b"moov", &[full_box(b"mvhd", 0, &mvhd), trak].concat());
    [mp4_box(b"ftyp", &ftyp), moov, mp4_box(b"mdat", payload)].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_times_have_hours_minutes_seconds_and_millis() {
        assert_eq!(vtt_time(0), "00:00:00.000");
        assert_eq!(vtt_time(3_723_004), "01:02:03.004");
    }

    #[test]
    fn a_cue_has_timings_and_a_voice_tag() {
        let text = webvtt(&[Cue {
            start_ms: 0,
            end_ms: 5320,
            speaker: "User Name".into(),
            text: "This is a transcript test.".into(),
        }]);
        assert_eq!(
            text,
            "WEBVTT\n\n00:00:00.000 --> 00:00:05.320\n<v User Name>This is a transcript test.</v>\n"
        );
    }
}
