package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/mysql"
)

// An application that already has a *sql.DB hands it to New; the store
// borrows it and leaves it open on Close. Because every app server sees the
// same table, signing a user out everywhere is one ListByUser and a Delete
// per session, whichever server handled them.
func ExampleNew() {
	db, err := sql.Open("mysql", "app:secret@tcp(127.0.0.1:3306)/app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := mysql.New(ctx, db, mysql.WithTable("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for _, id := range []string{"first-device-session-id", "second-device-session-id"} {
		rec := session.Record{ID: id, UserID: "alice", Expiry: time.Now().Add(24 * time.Hour)}
		if err := store.Save(ctx, rec); err != nil {
			log.Fatal(err)
		}
	}
	devices, err := store.ListByUser(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	for _, rec := range devices {
		if err := store.Delete(ctx, rec.ID); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("signed out of", len(devices), "devices")
}
