//! Property: over any sequence of loads, purchases and failures (wrong MACs, insufficient funds,
//! over-limit loads, broken INITIALIZE/DEBIT pairs, power cycles), each purse's balance equals
//! initial + successful loads − successful purchases, never exceeds the maximum, and its
//! counters count exactly the successful transactions.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::*;
use proptest::prelude::*;

const MAX: u32 = 20_000;
const KEY: u8 = 4; // 3DES, no try counter: wrong MACs never lock.

#[derive(Clone, Debug)]
enum Op {
    Load {
        ep: bool,
        amount: u32,
    },
    Purchase {
        ep: bool,
        amount: u32,
    },
    BadLoad {
        ep: bool,
        amount: u32,
    },
    BadPurchase {
        ep: bool,
        amount: u32,
    },
    /// INITIALIZE, another command, then the completion: 9406, nothing happens.
    Broken {
        ep: bool,
        amount: u32,
    },
    PowerCycle,
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![0u32..50, 0u32..8_000, 15_000u32..25_000];
    prop_oneof![
        4 => (any::<bool>(), amount.clone()).prop_map(|(ep, amount)| Op::Load { ep, amount }),
        4 => (any::<bool>(), amount.clone()).prop_map(|(ep, amount)| Op::Purchase { ep, amount }),
        1 => (any::<bool>(), amount.clone()).prop_map(|(ep, amount)| Op::BadLoad { ep, amount }),
        1 => (any::<bool>(), amount.clone()).prop_map(|(ep, amount)| Op::BadPurchase { ep, amount }),
        1 => (any::<bool>(), amount).prop_map(|(ep, amount)| Op::Broken { ep, amount }),
        1 => Just(Op::PowerCycle),
    ]
}

#[derive(Clone, Copy, Debug, Default)]
struct Model {
    balance: u32,
    loads: u32,
    purchases: u32,
    online: u16,
    offline: u16,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn money_is_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        let mut c = standard_with(with_limits(MAX, 0xFFFF));
        let mut t = Terminal::standard();
        prop_assert_eq!(c.verify_pin(PIN), 0x9000);
        let mut m = [Model::default(); 2];
        let mut successes = 0usize;
        for op in &ops {
            match *op {
                Op::Load { ep, amount } | Op::BadLoad { ep, amount } => {
                    let bad = matches!(op, Op::BadLoad { .. });
                    let p = &mut m[usize::from(ep)];
                    let r = t.load_with(&mut c, KEY, 1 + u8::from(ep), amount, Tamper { bad_mac: bad });
                    if p.balance + amount > MAX {
                        prop_assert_eq!(r.unwrap_err(), 0x9401);
                    } else if bad {
                        prop_assert_eq!(r.unwrap_err(), 0x9302);
                    } else {
                        let d = r.unwrap();
                        prop_assert_eq!((d.atc, d.balance_before), (p.online, p.balance));
                        p.balance += amount;
                        p.loads += amount;
                        p.online += 1;
                        successes += 1;
                    }
                }
                Op::Purchase { ep, amount } | Op::BadPurchase { ep, amount } => {
                    let bad = matches!(op, Op::BadPurchase { .. });
                    let p = &mut m[usize::from(ep)];
                    let r = t.debit(&mut c, KEY, 0x01, 1 + u8::from(ep), amount, Tamper { bad_mac: bad });
                    if amount > p.balance {
                        prop_assert_eq!(r.unwrap_err(), 0x9401);
                    } else if bad {
                        prop_assert_eq!(r.unwrap_err(), 0x9302);
                    } else {
                        let d = r.unwrap();
                        prop_assert_eq!((d.atc, d.balance_before), (p.offline, p.balance));
                        p.balance -= amount;
                        p.purchases += amount;
                        p.offline += 1;
                        successes += 1;
                    }
                }
                Op::Broken { ep, amount } => {
                    let p2 = 1 + u8::from(ep);
                    if let Ok(init) = t.init_purchase(&mut c, 0x01, p2, KEY, amount) {
                        c.balance(2).unwrap();
                        let ty = if ep { 0x06 } else { 0x05 };
                        let apdu = t.debit_apdu(KEY, ty, amount, &init, Tamper::default());
                        prop_assert_eq!(c.raw(&apdu).1, 0x9406);
                    }
                }
                Op::PowerCycle => {
                    c.power_cycle();
                    c.select_adf();
                    prop_assert_eq!(c.verify_pin(PIN), 0x9000);
                }
            }
            for (i, p) in m.iter().enumerate() {
                let b = c.balance(1 + i as u8).unwrap();
                prop_assert_eq!(b, p.balance);
                prop_assert!(b <= MAX);
                prop_assert_eq!(b, p.loads - p.purchases);
            }
        }
        prop_assert_eq!(c.log_count(), successes.min(10));
        // Counters count exactly the successful transactions (INITIALIZE answers them).
        for (i, p) in m.iter().enumerate() {
            let init = t.init_online(&mut c, 0x00, 1 + i as u8, KEY, 0).unwrap();
            prop_assert_eq!(init.atc, p.online);
            let init = t.init_purchase(&mut c, 0x01, 1 + i as u8, KEY, 0).unwrap();
            prop_assert_eq!(init.atc, p.offline);
        }
    }
}
