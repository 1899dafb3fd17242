"""A pseudo-terminal that answers like an Original Prusa i3 MK3S (firmware 3.14).

Close enough for PrusaLink 0.8.x to reach IDLE and to "print" files from its
local storage. Stdlib only; this is link-sync's stand-in for the printer, not
part of PrusaLink. G4 dwells really wait (capped at 5 s), so a file of short
dwells keeps the printer PRINTING for as long as a test needs.

usage: fake_mk3s.py LINK_PATH      (creates a pty and symlinks LINK_PATH to it)
env:   FAKE_MK3S_MOVE_DELAY  seconds to wait before 'ok' on a move (default 0.02)
       FAKE_MK3S_LOG=1       print every received line to stdout
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import tty

FIRMWARE = "3.14.1-8237"
SERIAL = "CZPX1234X004XC12345"
MOVE_DELAY = float(os.environ.get("FAKE_MK3S_MOVE_DELAY", "0.02"))
LOG = os.environ.get("FAKE_MK3S_LOG") == "1"

TEMPS = "T:215.0 /215.0 B:60.0 /60.0 T0:215.0 /215.0 @:0 B@:0 P:35.0 A:30.0"
POSITION = "X:0.00 Y:0.00 Z:0.20 E:0.00 Count X: 0.00 Y:0.00 Z:0.20 E:0.00"
FANS = "E0:0 RPM PRN1:0 RPM E0@:0 PRN1@:0"
M115 = (
    "FIRMWARE_NAME:Prusa-Firmware 3.14.1 based on Marlin "
    "FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware "
    "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S "
    "EXTRUDER_COUNT:1 UUID:00000000-0000-0000-0000-000000000000"
)
M73 = "NORMAL MODE: Percent done: -1; print time remaining in mins: -1; Change in mins: -1"
EEPROM = {  # address -> bytes, for the D3 reads PrusaLink makes at start
    0x0D05: bytes([0, 0, 0, 1]),  # job id
    0x0FBB: bytes([0]),  # flash air
    0x0FFF: bytes([0]),  # print mode: normal
    0x0D49: bytes(88),  # 8 sheets x 11 bytes
    0x0DA1: bytes([0]),  # active sheet
    0x0FF1: bytes(4),
    0x0FED: bytes(4),
    0x0F91: bytes(4),
}
LINE_RE = re.compile(r"^(N-?\d+\s+)?(?P<cmd>.*?)(\*\d+)?$")


class Printer:
    def __init__(self, master: int) -> None:
        self.master = master
        self.lock = threading.Lock()
        self.autoreport = 0

    def send(self, *lines: str) -> None:
        with self.lock:
            os.write(self.master, "".join(line + "\n" for line in lines).encode())

    def reporter(self) -> None:
        while True:
            if self.autoreport:
                self.send(TEMPS, POSITION, FANS)
                time.sleep(self.autoreport)
            else:
                time.sleep(0.5)

    def handle(self, raw: str) -> list[str]:
        match = LINE_RE.match(raw.strip())
        cmd = match.group("cmd").strip() if match else raw.strip()
        word = cmd.split(" ")[0].upper() if cmd else ""
        fixed = {
            "PRUSA Fir": [FIRMWARE, "ok"],
            "PRUSA SN": [SERIAL, "ok"],
        }
        if cmd in fixed:
            return fixed[cmd]
        if cmd.startswith("M862.2 Q"):
            return ["302", "ok"]  # printer type: MK3S
        if cmd.startswith("M862.1 Q"):
            return ["0.40", "ok"]  # nozzle diameter
        if cmd.startswith("M27"):
            return ["Not SD printing", "ok"]
        return self.handle_word(word, cmd)

    def handle_word(self, word: str, cmd: str) -> list[str]:
        if word == "M115":
            caps = ["Cap:AUTOREPORT_TEMP:1", "Cap:AUTOREPORT_POSITION:1", "Cap:AUTOREPORT_FANS:1"]
            return [M115, *caps, "ok"]
        if word == "D3":
            if write_eeprom(cmd):
                return ["ok"]
            return [*read_eeprom(cmd), "ok"]
        if word == "M420":
            return ["Mesh bed leveling not active.", "ok"]
        if word in ("M220", "M221"):
            return ["100%", "ok"]
        if word == "M73":
            return [M73, "ok"]
        if word == "M105":
            return ["ok " + TEMPS]
        if word == "M114":
            return [POSITION, "ok"]
        if word == "M155":
            seconds = re.search(r"S(\d+)", cmd)
            self.autoreport = int(seconds.group(1)) if seconds else 0
            return ["ok"]
        if word == "M20":
            return ["Begin file list", "End file list", "ok"]
        if word == "M21":
            return ["echo:SD card ok", "ok"]
        if word == "G4":
            time.sleep(min(dwell_seconds(cmd), 5.0))
        elif word in ("G0", "G1", "G2", "G3", "G28", "G29", "G80"):
            time.sleep(MOVE_DELAY)
        return ["ok"]

    def serve(self) -> None:
        threading.Thread(target=self.reporter, daemon=True).start()
        buffer = b""
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                time.sleep(0.1)
                continue
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode(errors="replace").strip("\r")
                if not text.strip():
                    continue
                if LOG:
                    print(">>", text, flush=True)
                self.send(*self.handle(text))


def write_eeprom(cmd: str) -> bool:
    """`D3 Ax0D05 X00000002`: PrusaLink writes the next job id before each print and
    reads it back; a printer that forgot it would hold the second print forever."""
    address = re.search(r"Ax([0-9A-Fa-f]+)", cmd)
    data = re.search(r"\bX([0-9A-Fa-f]+)", cmd)
    if not (address and data):
        return False
    EEPROM[int(address.group(1), 16)] = bytes.fromhex(data.group(1))
    return True


def read_eeprom(cmd: str) -> list[str]:
    address = re.search(r"Ax([0-9A-Fa-f]+)", cmd)
    count = re.search(r"C(\d+)", cmd)
    if not (address and count):
        return []
    start, length = int(address.group(1), 16), int(count.group(1))
    data = EEPROM.get(start, bytes(length))[:length].ljust(length, b"\0")
    return [
        f"{start + i:04X}  " + " ".join(f"{byte:02X}" for byte in data[i : i + 16])
        for i in range(0, length, 16)
    ]


def dwell_seconds(cmd: str) -> float:
    millis = re.search(r"P(\d+)", cmd)
    if millis:
        return int(millis.group(1)) / 1000
    seconds = re.search(r"S(\d+)", cmd)
    return float(seconds.group(1)) if seconds else 0.0


def main(link: str) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo or line editing on the printer's side
    slave_name = os.ttyname(slave)
    partial = link + ".new"
    if os.path.lexists(partial):
        os.unlink(partial)
    os.symlink(slave_name, partial)
    os.replace(partial, link)
    print(f"fake MK3S on {slave_name} -> {link}", flush=True)
    Printer(master).serve()


if __name__ == "__main__":
    main(sys.argv[1])
