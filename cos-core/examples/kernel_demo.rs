//! A blank chip through its first day: format, FMCOS-style personalisation under the transport
//! key, issue, then a holder's reads, PIN checks and a protected update — every APDU traced.
//!
//! Run: `cargo run -p cos-core --example kernel_demo`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use cos_core::applet::Applet;
use cos_core::crypto::{Algorithm, Key};
use cos_core::nvm::{MemNvm, Storage};
use cos_core::{FormatConfig, Kernel, SeededRng};

type Chip = MemNvm<16384>;

struct Terminal {
    card: Kernel<Chip, SeededRng>,
}

impl Terminal {
    fn send(&mut self, what: &str, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = [0u8; 600];
        let mut applets: [&mut dyn Applet; 0] = [];
        let mut n = self.card.transmit(apdu, &mut out, &mut applets);
        let mut data = out[..n - 2].to_vec();
        let mut sw = u16::from_be_bytes([out[n - 2], out[n - 1]]);
        println!("{what:<38} > {}", hex::encode_upper(apdu));
        while sw >> 8 == 0x61 {
            n = self
                .card
                .transmit(&[0, 0xC0, 0, 0, sw as u8], &mut out, &mut applets);
            data.extend_from_slice(&out[..n - 2]);
            sw = u16::from_be_bytes([out[n - 2], out[n - 1]]);
        }
        println!(
            "{:<38} < {} {:04X} ({})",
            "",
            hex::encode_upper(&data),
            sw,
            cos_core::apdu::Sw(sw).description()
        );
        (data, sw)
    }

    fn hex(&mut self, what: &str, apdu: &str) -> (Vec<u8>, u16) {
        let bytes = hex::decode(apdu.replace(' ', "")).unwrap();
        self.send(what, &bytes)
    }

    fn external_auth(&mut self, id: u8, key: &Key) -> u16 {
        let (ch, _) = self.hex("GET CHALLENGE", "0084000004");
        let mut block = [0u8; 8];
        block[..4].copy_from_slice(&ch);
        key.encrypt_block(&mut block).unwrap();
        let mut apdu = vec![0x00, 0x82, 0x00, id, 0x08];
        apdu.extend_from_slice(&block);
        self.send("EXTERNAL AUTHENTICATE", &apdu).1
    }

    fn secured(&mut self, what: &str, header: [u8; 4], data: &[u8], key: &Key) -> u16 {
        let (ch, _) = self.hex("GET CHALLENGE", "0084000004");
        let lc = (data.len() + 4) as u8;
        let mut iv = [0u8; 8];
        iv[..4].copy_from_slice(&ch);
        let mac = key.mac(&iv, &[&header, &[lc], data]).unwrap().first4();
        let mut apdu = header.to_vec();
        apdu.push(lc);
        apdu.extend_from_slice(data);
        apdu.extend_from_slice(&mac);
        self.send(what, &apdu).1
    }
}

fn main() {
    let transport = Key::new(Algorithm::Tdes, &[0xFF; 16]).unwrap();
    let master = Key::new(Algorithm::Tdes, b"MASTER-KEY-01234").unwrap();
    let line = Key::new(Algorithm::Tdes, b"ADF-LINE-KEY-012").unwrap();

    println!("== factory: format a 16 KiB EEPROM (64-byte pages)");
    let nvm = Kernel::<Chip, SeededRng>::format(
        Chip::new(64),
        &FormatConfig::default(),
        &mut SeededRng::new(1),
    )
    .unwrap();
    let card = Kernel::power_on(nvm, SeededRng::new(2026), &mut [])
        .map_err(|e| e.0)
        .unwrap();
    let mut t = Terminal { card };
    println!("ATR {}", hex::encode_upper(t.card.atr()));

    println!("\n== personalisation (issuer, transport key)");
    t.hex("SELECT MF", "00A40000023F00");
    t.external_auth(0x00, &transport);
    t.hex("ERASE DF (MF)", "800E000000");
    t.hex("CREATE FILE key file", "80E00000073F006001F0FFFF");
    let mut wk = hex::decode("80D401001539F0F00F33").unwrap();
    wk.extend_from_slice(b"MASTER-KEY-01234");
    t.send("WRITE KEY master (39), next state F", &wk);
    t.hex(
        "CREATE FILE ADF",
        "80E03F0111380400F00F95FFFFA00000000386980701",
    );
    t.hex("SELECT ADF by name", "00A4040009A00000000386980701");
    t.hex("CREATE FILE key file", "80E00000073F010001F0FFFF");
    let mut wk = hex::decode("80D401001536F0F0FF33").unwrap();
    wk.extend_from_slice(b"ADF-LINE-KEY-012");
    t.send("WRITE KEY line protection (36)", &wk);
    t.hex("WRITE KEY PIN 123456 (3A)", "80D40100083AF0EF0133123456");
    t.hex("CREATE FILE 0015 (free read)", "80E0001507280020F0F0FFFF");
    t.hex(
        "CREATE FILE 0016 (PIN read, MAC write)",
        "80E0001607A80010F1F0FFFF",
    );
    t.hex(
        "CREATE FILE 0018 cyclic log 5 x 8",
        "80E00018072E0508F0F0FFFF",
    );
    t.hex("UPDATE BINARY 0015 (SFI 15)", "00D6950008 4349545943415244");

    println!("\n== issue");
    t.hex("SELECT MF", "00A40000023F00");
    t.external_auth(0x00, &master);
    t.hex("ACTIVATE FILE (card issued)", "00440000");

    println!("\n== the holder's day");
    t.hex("SELECT ADF", "00A4040009A00000000386980701");
    t.hex("READ BINARY 0015", "00B0950008");
    t.hex("READ BINARY 0016 without PIN", "00B0960010");
    t.hex("VERIFY wrong PIN", "0020000003111111");
    t.hex("VERIFY PIN", "0020000003123456");
    t.hex("READ BINARY 0016 after PIN", "00B0960010");
    t.hex("UPDATE BINARY 0016 plain (refused)", "00D6960004DEADBEEF");
    t.secured(
        "UPDATE BINARY 0016 with MAC",
        [0x04, 0xD6, 0x96, 0x00],
        &[0xDE, 0xAD, 0xBE, 0xEF],
        &line,
    );
    for i in 1..=3u8 {
        t.send(
            "APPEND RECORD 0018",
            &[0x00, 0xE2, 0x00, 0xC0, 0x08, i, i, i, i, i, i, i, i],
        );
    }
    t.hex("READ RECORD 0018 #1 (newest)", "00B201C408");
    t.hex("READ RECORD 0018 #3 (oldest)", "00B203C408");

    let (nvm, _) = t.card.power_off();
    let store = cos_core::nvm::Store::mount(nvm).map_err(|e| e.0).unwrap();
    println!(
        "\npowered off; data area {} bytes, {} page programs since the last mount",
        store.capacity(),
        store.programs()
    );
}
