package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseEnvFile reads KEY=VALUE lines: blank lines and lines starting with
// # are skipped, "export " before a key is allowed, and a value in matching
// single or double quotes loses them. Errors name the line and the key,
// never a value.
func ParseEnvFile(r io.Reader, into map[string]string) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		if err := ParseEnv(line, into); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return s.Err()
}

// ParseEnv reads one KEY=VALUE into the map.
func ParseEnv(kv string, into map[string]string) error {
	key, value, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	// The messages quote nothing: a malformed line may be a secret.
	if !ok {
		return errors.New("not KEY=VALUE (no =)")
	}
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	if err := CheckVariable(key, value); err != nil {
		return err
	}
	into[key] = value
	return nil
}

// ReservedPrefixes begin the names SCF keeps for itself: "预留的环境变量
// key 无法配置" (reserved keys cannot be set), SCF_, QCLOUD_ and
// TENCENTCLOUD_ (SCF's environment variable doc, tencentyun/qcloud-documents
// product/计算与网络/无服务器云函数/开发指南/环境变量.md). The doc writes them
// in upper case; deploy refuses them in any case, which is safer than
// finding out.
var ReservedPrefixes = []string{"SCF_", "QCLOUD_", "TENCENTCLOUD_"}

// CheckVariable says what SCF would refuse in a variable, before any call:
// a name that is not letters, digits and _ starting with a letter, a
// reserved name, an empty value ("变量的值，不可为空字符": the SDK's
// Variable). The messages name the key, never the value.
func CheckVariable(key, value string) error {
	if !ValidKey(key) {
		return errors.New("the variable name is not letters, digits and _ starting with a letter")
	}
	for _, p := range ReservedPrefixes {
		if strings.HasPrefix(strings.ToUpper(key), p) {
			return fmt.Errorf("%s: names starting with %s are reserved by SCF", key, p)
		}
	}
	if value == "" {
		return fmt.Errorf("%s has an empty value, which SCF refuses: give it a value or leave it out", key)
	}
	return nil
}

// ValidKey: what SCF takes as a variable name.
func ValidKey(k string) bool {
	if k == "" || !(k[0] >= 'A' && k[0] <= 'Z' || k[0] >= 'a' && k[0] <= 'z') {
		return false
	}
	for _, c := range k {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
