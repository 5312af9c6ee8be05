package testkit

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// StaticELF is the smallest static Linux executable for machine (x86-64
// or arm64): one loaded segment whose code exits 0, followed by payload,
// which it never reads but which makes executables differ. It stands in
// for a static build of scfws where only its bytes matter (zipped and
// uploaded by deploy): a Go build is over 1 MB, which the race detector
// takes seconds to deflate each time.
func StaticELF(machine elf.Machine, payload []byte) []byte {
	const base, codeOff = 0x400000, 64 + 56 // after the header and one program header
	code := map[elf.Machine][]byte{
		// mov eax, 60 (exit); xor edi, edi; syscall
		elf.EM_X86_64: {0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05},
		// mov x8, #93 (exit); mov x0, #0; svc #0
		elf.EM_AARCH64: {0xa8, 0x0b, 0x80, 0xd2, 0x00, 0x00, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4},
	}[machine]
	size := uint64(codeOff + len(code) + len(payload))
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Entry: base + codeOff, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	p := elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Paddr: base,
		Filesz: size, Memsz: size, Align: 0x1000}
	var b bytes.Buffer
	// Writes to a bytes.Buffer of fixed-size values do not fail.
	_ = binary.Write(&b, binary.LittleEndian, h)
	_ = binary.Write(&b, binary.LittleEndian, p)
	b.Write(code)
	b.Write(payload)
	return b.Bytes()
}
