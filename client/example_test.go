package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	"github.com/scfws/scfws/client"
)

// standIn plays the function behind its signed HTTP route: it checks the
// signature and answers reply.
func standIn(secret []byte, reply string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(client.HeaderTimestamp), 10, 64)
		if r.Header.Get(client.HeaderSignature) != client.Sign(secret, ts, body) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errNo":401,"errMsg":"bad signature"}`)
			return
		}
		fmt.Fprint(w, reply)
	}))
}

// Send a JSON message to everyone in a group through the function's signed
// HTTP route.
func Example() {
	secret := []byte("the function's PUBLISH_SECRET")
	fn := standIn(secret, `{"errNo":0,"errMsg":"ok","recipients":3,"delivered":3,"pruned":0,"failed":0,"skipped":0,"elapsedMs":4}`)
	defer fn.Close()

	route, err := client.NewHTTP(client.HTTPConfig{
		URL:    fn.URL, // e.g. https://service-xxxx.gz.apigw.tencentcs.com/release/scfws
		Secret: secret,
		Client: fn.Client(), // leave nil for http.DefaultClient
	})
	if err != nil {
		log.Fatal(err)
	}
	c := client.New(route)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.SendToGroup(ctx, "lobby", client.JSON(map[string]int{"score": 3}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d of %d delivered in %s\n", res.Delivered, res.Recipients, res.Elapsed)
	// Output: 3 of 3 delivered in 4ms
}

// Invoke the function through SCF's Invoke API, with a key from the
// environment. Endpoint is only for scfws local or a private endpoint.
func ExampleNewSCF() {
	scf, err := client.NewSCF(client.SCFConfig{
		SecretID:  os.Getenv("TENCENTCLOUD_SECRETID"),
		SecretKey: os.Getenv("TENCENTCLOUD_SECRETKEY"),
		Token:     os.Getenv("TENCENTCLOUD_SESSIONTOKEN"),
		Region:    "ap-guangzhou",
		Function:  "scfws",
		// Endpoint: "http://127.0.0.1:8080",
	})
	if err != nil {
		log.Fatal(err)
	}
	c := client.New(scf)
	if _, err := c.SendToUser(context.Background(), "bob", client.Text("your order shipped")); err != nil {
		log.Fatal(err)
	}
}

// Tell the function's refusal (a non-zero errNo) from a command that got
// no reply at all.
func ExampleError() {
	secret := []byte("s3cret")
	fn := standIn(secret, `{"errNo":109,"errMsg":"bad argument: connectionId"}`)
	defer fn.Close()
	route, _ := client.NewHTTP(client.HTTPConfig{URL: fn.URL, Secret: secret, Client: fn.Client()})

	_, err := client.New(route).CloseConnection(context.Background(), "no-such-id", "banned")
	var refused *client.Error
	var noReply *client.TransportError
	switch {
	case errors.As(err, &refused):
		fmt.Println("refused:", refused.ErrNo, refused.Msg)
	case errors.As(err, &noReply):
		fmt.Println("no reply:", noReply.Err)
	}
	// Output: refused: 109 bad argument: connectionId
}

func ExampleClient_ListGroup() {
	secret := []byte("s3cret")
	fn := standIn(secret, `{"errNo":0,"errMsg":"ok","group":"lobby","users":[{"userId":"alice","connections":2},{"userId":"bob","connections":1}],"anonymous":1,"truncated":false}`)
	defer fn.Close()
	route, _ := client.NewHTTP(client.HTTPConfig{URL: fn.URL, Secret: secret, Client: fn.Client()})

	g, err := client.New(route).ListGroup(context.Background(), "lobby")
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range g.Users {
		fmt.Printf("%s: %d\n", u.UserID, u.Connections)
	}
	fmt.Println("anonymous:", g.Anonymous)
	// Output:
	// alice: 2
	// bob: 1
	// anonymous: 1
}

// The signature the function checks, for a body sent at a timestamp.
func ExampleSign() {
	body := []byte(`{"scfws":{"op":"sendToAll","dataType":"text","data":"maintenance at 5"}}`)
	fmt.Println(client.Sign([]byte("test-publish-secret-0123456789"), 1700000000, body))
	// Output: sha256=c1a62d7a068cd7cb7b0a112abebeaa852e09e9acefef283e2af2e8a80b6be39e
}
