// stepbench: the Go half of bench/sidebyside.py.
//
//	stepbench init --name N --dns a,b --address HOST:PORT --provisioner NAME --password-file F
//	    creates a step-ca 0.19 PKI in $STEPPATH with smallstep's own pki package (what `step ca init --ssh`
//	    runs): root, intermediate, SSH user and host keys, one JWK provisioner, badger database.
//	stepbench renew --url URL --root ROOT_PEM --certs DIR --concurrency C --seconds S
//	    renewal load over mTLS: C loops, each holding one certificate (DIR/<i>.crt, DIR/<i>.key) and
//	    renewing it with a new TLS connection per renewal, then holding the renewed certificate, as
//	    `step ca renew --daemon` does. Prints one line:
//	    RESULT ok=.. bad=.. duration_us=.. p50_us=.. p99_us=..
//
// wrk cannot present a client certificate, so renewals need their own load generator; Go keeps its CPU
// cost on the shared cores small.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/pki"

	_ "github.com/smallstep/certificates/cas/softcas"
	_ "github.com/smallstep/certificates/kms/softkms"
)

func die(err error) {
	fmt.Fprintln(os.Stderr, "stepbench:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die(fmt.Errorf("usage: stepbench init|renew [flags]"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	name := fs.String("name", "bench", "PKI name")
	dns := fs.String("dns", "localhost", "comma-separated names of the CA")
	address := fs.String("address", "127.0.0.1:9000", "listen address")
	prov := fs.String("provisioner", "admin", "JWK provisioner name")
	passFile := fs.String("password-file", "", "password file")
	url := fs.String("url", "", "CA URL")
	root := fs.String("root", "", "root certificate (PEM)")
	certs := fs.String("certs", "", "directory of <i>.crt/<i>.key pairs")
	conc := fs.Int("concurrency", 32, "concurrent renewal loops")
	secs := fs.Int("seconds", 10, "run length")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "init":
		pw, err := os.ReadFile(*passFile)
		if err != nil {
			die(err)
		}
		initPKI(*name, strings.Split(*dns, ","), *address, *prov, bytes.TrimRight(pw, "\r\n"))
	case "renew":
		renewLoad(*url, *root, *certs, *conc, time.Duration(*secs)*time.Second)
	default:
		die(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func initPKI(name string, dns []string, address, prov string, pw []byte) {
	p, err := pki.New(apiv1.Options{Type: apiv1.SoftCAS, IsCreator: true},
		pki.WithAddress(address), pki.WithDNSNames(dns), pki.WithProvisioner(prov), pki.WithSSH())
	if err != nil {
		die(err)
	}
	if err := p.GenerateKeyPairs(pw); err != nil {
		die(err)
	}
	r, err := p.GenerateRootCertificate(name, name, name, pw)
	if err != nil {
		die(err)
	}
	if err := p.GenerateIntermediateCertificate(name, name, name, r, pw); err != nil {
		die(err)
	}
	if err := p.GenerateSSHSigningKeys(pw); err != nil {
		die(err)
	}
	if err := p.Save(); err != nil {
		die(err)
	}
}

type holder struct {
	cert tls.Certificate
	key  []byte
}

func renewLoad(url, rootFile, dir string, conc int, d time.Duration) {
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		die(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		die(fmt.Errorf("no certificate in %s", rootFile))
	}
	crts, _ := filepath.Glob(filepath.Join(dir, "*.crt"))
	if len(crts) == 0 {
		die(fmt.Errorf("no certificates in %s", dir))
	}
	holders := make([]*holder, len(crts))
	for i, c := range crts {
		k := strings.TrimSuffix(c, ".crt") + ".key"
		crtPEM, err1 := os.ReadFile(c)
		keyPEM, err2 := os.ReadFile(k)
		if err1 != nil || err2 != nil {
			die(fmt.Errorf("reading %s: %v %v", c, err1, err2))
		}
		cert, err := tls.X509KeyPair(crtPEM, keyPEM)
		if err != nil {
			die(err)
		}
		holders[i] = &holder{cert, keyPEM}
	}
	var mu sync.Mutex
	var lat []time.Duration
	bad, shown := 0, 0
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(h *holder) {
			defer wg.Done()
			var mine []time.Duration
			nbad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				crt, status, err := renewOnce(url, pool, h.cert)
				if err == nil && status == http.StatusCreated {
					if c, err := tls.X509KeyPair(crt, h.key); err == nil {
						h.cert = c
						mine = append(mine, time.Since(t0))
						continue
					}
				}
				nbad++
				mu.Lock()
				if shown < 3 {
					shown++
					fmt.Fprintf(os.Stderr, "renew: status %d %v %.200s\n", status, err, crt)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			lat = append(lat, mine...)
			bad += nbad
			mu.Unlock()
		}(holders[w%len(holders)])
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) int64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))].Microseconds()
	}
	fmt.Printf("RESULT ok=%d bad=%d duration_us=%d p50_us=%d p99_us=%d\n", len(lat), bad,
		elapsed.Microseconds(), pct(0.50), pct(0.99))
}

// renewOnce posts /renew on a connection of its own (a fresh transport: no keep-alive, no session
// resumption) and returns the new certificate chain as PEM.
func renewOnce(url string, pool *x509.CertPool, cert tls.Certificate) ([]byte, int, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post(url+"/renew", "application/json", nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusCreated {
		return body, resp.StatusCode, err
	}
	var out struct {
		Crt       string   `json:"crt"`
		CertChain []string `json:"certChain"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return body, resp.StatusCode, err
	}
	chain := out.Crt
	if len(out.CertChain) > 1 {
		chain = strings.Join(out.CertChain, "")
	}
	return []byte(chain), resp.StatusCode, nil
}
