#!/bin/bash
# Independent PBOC KATs with OpenSSL only.
pad() { local d=$1 bs=$2; d="${d}80"; while [ $(( ${#d} % (bs*2) )) -ne 0 ]; do d="${d}00"; done; echo $d; }
ecb() { # alg key hex
  case $1 in
    tdes) c="-des-ede-ecb";; des) c="-provider legacy -provider default -des-ecb";;
    sm4) c="-sm4-ecb";; aes) c="-aes-128-ecb";; esac
  echo $3 | xxd -r -p | openssl enc $c -K $2 -nopad | xxd -p -c 256; }
cbcmac() { # alg key data -> first 4 bytes of last block
  case $1 in
    des) c="-provider legacy -provider default -des-cbc"; bs=8; iv=0000000000000000;;
    sm4) c="-sm4-cbc"; bs=16; iv=00000000000000000000000000000000;;
  esac
  p=$(pad $3 $bs)
  out=$(echo $p | xxd -r -p | openssl enc $c -K $2 -iv $iv -nopad | xxd -p -c 256)
  echo ${out: -$((bs*2))} | cut -c1-8; }
cmac() { echo $2 | xxd -r -p > "${TMPDIR:-/tmp}/pboc-kat-m.bin"; openssl mac -cipher AES-128-CBC -macopt hexkey:$1 -in "${TMPDIR:-/tmp}/pboc-kat-m.bin" CMAC | cut -c1-8; }
mac() { case $1 in tdes) cbcmac des $2 $3;; sm4) cbcmac sm4 $2 $3;; aes) cmac $2 $3;; esac; }
xorhalves() { python3 -c "import sys;k=bytes.fromhex('$1');print(bytes(a^b for a,b in zip(k[:8],k[8:])).hex())"; }
run() { alg=$1 K=$2
  R=11223344; T=001122334455; A=00001000
  if [ $alg = tdes ]; then
     slk=$(ecb tdes $K ${R}00008000); spk=$(ecb tdes $K ${R}00000001); tk=$(xorhalves $K)
  else
     slk=$(ecb $alg $K ${R}000080008000000000000000); spk=$(ecb $alg $K ${R}000000018000000000000000); tk=$K
  fi
  echo "== $alg K=$K"
  echo "SESLK $slk"
  echo "ED load MAC1 $(mac $alg $slk 00000000${A}01${T})"
  echo "ED load MAC2 $(mac $alg $slk ${A}01${T}20111221214822)"
  echo "ED load TAC  $(mac $alg $tk ${A}0000${A}01${T}20111221214822)"
  echo "EP load MAC1 $(mac $alg $slk 00000000${A}02${T})"
  echo "EP load MAC2 $(mac $alg $slk ${A}02${T}20111221214822)"
  echo "EP load TAC  $(mac $alg $tk ${A}0000${A}02${T}20111221214822)"
  echo "SESPK $spk"
  echo "EP purchase MAC1 $(mac $alg $spk ${A}06${T}20120229135100)"
  echo "EP purchase MAC2 $(mac $alg $spk ${A})"
  echo "EP purchase TAC  $(mac $alg $tk ${A}06${T}0000000120120229135100)"
}
run tdes 11223344556677888877665544332211
run sm4 0123456789abcdeffedcba9876543210
run aes 2b7e151628aed2a6abf7158809cf4f3c
