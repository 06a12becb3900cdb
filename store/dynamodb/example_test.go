package dynamodb_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/dynamodb"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// On Lambda or Fargate, LoadDefaultConfig finds the region and the
	// role's credentials; locally, AWS_REGION and a profile or keys.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client := awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) {
		// Only for an emulator such as dynalite; omit it for AWS.
		o.BaseEndpoint = aws.String(testenv.DynamoDBURL)
	})
	// WithCreateTable is for development; in production the table comes
	// from infrastructure code (see the package documentation).
	store, err := dynamodb.New(ctx, client, "httpstate_example_sessions", dynamodb.WithCreateTable())
	if err != nil {
		log.Fatal(err)
	}

	// A record's ID is the SHA-256 of the session token, never the token.
	newID := func() string {
		sum := sha256.Sum256([]byte(rand.Text()))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	alice := "alice-" + rand.Text() // unique, so runs never meet
	expiry := time.Now().Add(time.Hour)

	// Version 0 creates a record; it fails if a live one is already there.
	laptop := session.Record{ID: newID(), UserID: alice, Expiry: expiry, Data: []byte("laptop")}
	phone := session.Record{ID: newID(), UserID: alice, Expiry: expiry, Data: []byte("phone")}
	for _, rec := range []session.Record{laptop, phone} {
		if err := store.Save(ctx, rec); err != nil {
			log.Fatal(err)
		}
	}

	// Two requests load the same version; the second save loses.
	first, err := store.Load(ctx, phone.ID)
	if err != nil {
		log.Fatal(err)
	}
	second := first
	first.Data = []byte("phone, cart: 1 item")
	second.Data = []byte("phone, cart: empty")
	fmt.Println("first save:", store.Save(ctx, first))
	fmt.Println("second save conflicts:", errors.Is(store.Save(ctx, second), session.ErrConflict))

	// Signing out everywhere: list the user's sessions and delete each.
	// The list is strongly consistent: it has both sessions, however
	// recently they were saved.
	devices, err := store.ListByUser(ctx, alice)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("devices:", len(devices))
	for _, d := range devices {
		if err := store.Delete(ctx, d.ID); err != nil {
			log.Fatal(err)
		}
	}
	_, err = store.Load(ctx, phone.ID)
	fmt.Println("phone after sign-out is gone:", errors.Is(err, session.ErrNotFound))

	// It needs DynamoDB or an emulator, so `go test` compiles this example
	// without running it. Against one, it prints:
	// first save: <nil>
	// second save conflicts: true
	// devices: 2
	// phone after sign-out is gone: true
}
