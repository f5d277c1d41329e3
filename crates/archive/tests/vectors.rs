//! Cut-point vectors: chunk boundaries define chunk names, so the chunker (fastcdc, pinned
//! exactly) and its parameters must keep cutting known inputs at the same places. A failure
//! here means a format change: old archives would stop deduplicating against new snapshots.

use archive::params::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};

fn cuts(data: &[u8]) -> Vec<usize> {
    fastcdc::v2020::FastCDC::new(data, MIN_CHUNK as usize, AVG_CHUNK as usize, MAX_CHUNK as usize)
        .map(|c| c.offset + c.length)
        .collect()
}

fn streamed(data: &[u8]) -> Vec<usize> {
    fastcdc::v2020::StreamCDC::new(data, MIN_CHUNK as usize, AVG_CHUNK as usize, MAX_CHUNK as usize)
        .map(|c| {
            let c = c.expect("in memory");
            c.offset as usize + c.length
        })
        .collect()
}

#[test]
fn random_bytes_cut_where_they_always_did() {
    let data = testkit::bytes(7, 300_000);
    let got = cuts(&data);
    assert_eq!(got, streamed(&data), "the streaming chunker the archive uses cuts alike");
    let expected: &[usize] = &VECTOR_RANDOM;
    assert_eq!(got, expected);
}

#[test]
fn a_real_heap_cuts_where_it_always_did() {
    let lz4 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5.lz4"
    ))
    .expect("the fixture");
    let mut heap = Vec::new();
    std::io::Read::read_to_end(&mut lz4_flex::frame::FrameDecoder::new(&lz4[..]), &mut heap)
        .expect("decodes");
    let got = cuts(&heap);
    assert_eq!(got, streamed(&heap));
    assert_eq!(got.len(), VECTOR_HEAP_COUNT, "chunks of the lockdown heap");
    assert_eq!(&got[..VECTOR_HEAP_FIRST.len()], &VECTOR_HEAP_FIRST, "{:?}", &got[..12]);
}

const VECTOR_RANDOM: [usize; 17] = [
    13496, 50816, 58861, 79799, 99821, 104307, 127215, 134621, 141654, 160224, 169373, 190421, 227638,
    252543, 257358, 290899, 300000,
];
const VECTOR_HEAP_COUNT: usize = 118;
const VECTOR_HEAP_FIRST: [usize; 12] =
    [8646, 26090, 66774, 88682, 107396, 134272, 168700, 185435, 195106, 227245, 258283, 292432];
