package demo

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The shop speaks English, French and German. Messages are keyed by their
// English text, which is also the fallback, so a missing translation shows
// English rather than a key.
var languages = []struct{ Code, Name string }{
	{"en", "English"},
	{"fr", "Français"},
	{"de", "Deutsch"},
}

func supportedLang(code string) bool {
	for _, l := range languages {
		if l.Code == code {
			return true
		}
	}
	return false
}

// negotiateLang picks the first supported language of the request's
// Accept-Language header, ignoring quality values beyond their order.
func negotiateLang(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if supportedLang(base) {
			return base
		}
	}
	return "en"
}

func translate(lang, msg string) string {
	if t, ok := catalog[lang][msg]; ok {
		return t
	}
	return msg
}

// translatef translates a format string, then formats it.
func translatef(lang, format string, args ...any) string {
	return fmt.Sprintf(translate(lang, format), args...)
}

// formatPrice formats euro cents the way each language writes prices.
func formatPrice(lang string, cents int) string {
	s := strconv.Itoa(cents/100) + "." + fmt.Sprintf("%02d", cents%100)
	if lang == "en" {
		return "€" + s
	}
	return strings.Replace(s, ".", ",", 1) + "\u00a0€"
}

// ago describes how long ago t was, coarsely.
func ago(lang string, t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return translate(lang, "just now")
	case d < time.Hour:
		return translatef(lang, "%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return translatef(lang, "%d h ago", int(d/time.Hour))
	}
	return translatef(lang, "%d days ago", int(d/(24*time.Hour)))
}

var catalog = map[string]map[string]string{
	"fr": {
		"(this also logs out every other device).":       "(cela déconnecte aussi tous les autres appareils).",
		"A demo of httpstate, a session toolkit for Go.": "Une démonstration de httpstate, une boîte à outils de sessions pour Go.",
		"API client":  "Client d'API",
		"API clients": "Clients d'API",
		"Add to cart": "Ajouter au panier",
		"At least 12 characters. Every other device is logged out, and this one gets a new session ID.": "Au moins 12 caractères. Tous les autres appareils sont déconnectés, et celui-ci reçoit un nouvel identifiant de session.",
		"Back to the shop":               "Retour à la boutique",
		"Browse the cookies":             "Voir les biscuits",
		"Cart":                           "Panier",
		"Change password":                "Changer le mot de passe",
		"Change your password":           "Changer votre mot de passe",
		"Cookies, fresh from the server": "Des cookies tout frais, sortis du serveur",
		"Current password":               "Mot de passe actuel",
		"Dark":                           "Sombre",
		"Demo accounts live in the server's memory: a new password lasts until the server restarts.": "Les comptes de démonstration vivent dans la mémoire du serveur : un nouveau mot de passe dure jusqu'à son redémarrage.",
		"Demo accounts": "Comptes de démonstration",
		"Dismiss":       "Masquer",
		"Ends":          "Fin",
		"Kept in a sealed cookie in your browser, not in your session: they work without an account and survive a browser restart.": "Conservées dans un cookie scellé de votre navigateur, pas dans votre session : elles fonctionnent sans compte et survivent au redémarrage du navigateur.",
		"Language":                "Langue",
		"In your cart":            "Dans votre panier",
		"Last seen":               "Dernière visite",
		"Light":                   "Clair",
		"Log in to order":         "Se connecter pour commander",
		"Log in":                  "Se connecter",
		"Log out everywhere else": "Déconnecter partout ailleurs",
		"Log out":                 "Se déconnecter",
		"Logged in":               "Connecté",
		"Main":                    "Principal",
		"Network":                 "Réseau",
		"New password again":      "Nouveau mot de passe (encore)",
		"New password":            "Nouveau mot de passe",
		"No API client holds a refresh token for your account.": "Aucun client d'API ne détient de jeton de rafraîchissement pour votre compte.",
		"Password":                      "Mot de passe",
		"Place order":                   "Commander",
		"Preferences":                   "Préférences",
		"Quantity":                      "Quantité",
		"Remember me on this device":    "Se souvenir de moi sur cet appareil",
		"Remembered":                    "Mémorisé",
		"Remove":                        "Retirer",
		"Revoke":                        "Révoquer",
		"Same as the system":            "Comme le système",
		"Save":                          "Enregistrer",
		"Sessions are kept in":          "Les sessions sont conservées dans",
		"Shop":                          "Boutique",
		"Show the welcome banner":       "Afficher le bandeau d'accueil",
		"Switch between light and dark": "Basculer entre clair et sombre",
		"Theme":                         "Thème",
		"These browsers are logged in to your account. If you do not recognise one, revoke it: its next request will be logged out.": "Ces navigateurs sont connectés à votre compte. Si vous n'en reconnaissez pas un, révoquez-le : sa prochaine requête sera déconnectée.",
		"This device": "Cet appareil",
		"Total":       "Total",
		"Update":      "Mettre à jour",
		"Username":    "Nom d'utilisateur",
		"Welcome to the httpstate demo shop. Nothing here is for sale: it shows sessions, carts and preferences working end to end.": "Bienvenue dans la boutique de démonstration de httpstate. Rien n'est à vendre : elle montre sessions, paniers et préférences de bout en bout.",
		"Without it you are logged out when the browser closes; with it, after a week without a visit.":                              "Sans cela, vous êtes déconnecté à la fermeture du navigateur ; avec, après une semaine sans visite.",
		"Your cart is empty.": "Votre panier est vide.",
		"Your cart lives in a server-side session: reload, open a second tab, come back tomorrow with “remember me”. It is all still there.": "Votre panier vit dans une session côté serveur : rechargez, ouvrez un deuxième onglet, revenez demain avec « se souvenir de moi ». Tout est encore là.",
		"Your cart":    "Votre panier",
		"Your devices": "Vos appareils",
		"each":         "l'unité",
		"refreshes":    "renouvellements",
		"served by":    "servi par",

		"Added %s to your cart.":             "%s ajouté à votre panier.",
		"Your cart was updated.":             "Votre panier a été mis à jour.",
		"That product does not exist.":       "Ce produit n'existe pas.",
		"Please log in to place your order.": "Connectez-vous pour passer votre commande.",
		"Thank you! Your order of %d cookies (%s) is on its way. (Not really: this is a demo.)": "Merci ! Votre commande de %d biscuits (%s) est en route. (Pas vraiment : c'est une démonstration.)",
		"Welcome back, %s.":           "Bon retour, %s.",
		"You have been logged out.":   "Vous êtes déconnecté.",
		"Wrong username or password.": "Nom d'utilisateur ou mot de passe incorrect.",
		"Too many failed attempts for this account. Try again in %d minutes.":                   "Trop d'échecs pour ce compte. Réessayez dans %d minutes.",
		"Too many failed logins from your network. Try again in %d minutes.":                    "Trop de connexions échouées depuis votre réseau. Réessayez dans %d minutes.",
		"The server is busy checking other logins. Please try again in a moment.":               "Le serveur est occupé à vérifier d'autres connexions. Réessayez dans un instant.",
		"Your session has ended: it timed out, was logged out, or is not known to this server.": "Votre session a pris fin : elle a expiré, a été fermée ou n'est pas connue de ce serveur.",
		"Please log in to see this page.":                                                       "Connectez-vous pour voir cette page.",
		"That session had already ended.":                                                       "Cette session était déjà terminée.",
		"The device was logged out.":                                                            "L'appareil a été déconnecté.",
		"Other sessions logged out: %d.":                                                        "Autres sessions déconnectées : %d.",
		"The API client was revoked.":                                                           "Le client d'API a été révoqué.",
		"Preferences saved.":                                                                    "Préférences enregistrées.",
		"The current password is wrong.":                                                        "Le mot de passe actuel est incorrect.",
		"The two new passwords do not match.":                                                   "Les deux nouveaux mots de passe ne correspondent pas.",
		"The new password must be at least 12 characters long.":                                 "Le nouveau mot de passe doit compter au moins 12 caractères.",
		"The new password must be at most 128 characters long.":                                 "Le nouveau mot de passe doit compter au plus 128 caractères.",
		"Password changed. Other sessions logged out: %d.":                                      "Mot de passe changé. Autres sessions déconnectées : %d.",
		"Page not found":            "Page introuvable",
		"This page does not exist.": "Cette page n'existe pas.",
		"Request refused":           "Requête refusée",
		"This form was sent from another site, so it was refused. Nothing was changed.": "Ce formulaire a été envoyé depuis un autre site ; il a donc été refusé. Rien n'a été modifié.",
		"Service unavailable": "Service indisponible",
		"Session storage did not answer. Please try again in a moment.": "Le stockage des sessions n'a pas répondu. Réessayez dans un instant.",
		"Something went wrong": "Un problème est survenu",
		"Please try again.":    "Veuillez réessayer.",
		"Too many attempts":    "Trop de tentatives",
		"just now":             "à l'instant",
		"%d min ago":           "il y a %d min",
		"%d h ago":             "il y a %d h",
		"%d days ago":          "il y a %d jours",
	},
	"de": {
		"(this also logs out every other device).":       "(dabei werden auch alle anderen Geräte abgemeldet).",
		"A demo of httpstate, a session toolkit for Go.": "Eine Demo von httpstate, einem Sitzungs-Werkzeugkasten für Go.",
		"API client":  "API-Client",
		"API clients": "API-Clients",
		"Add to cart": "In den Warenkorb",
		"At least 12 characters. Every other device is logged out, and this one gets a new session ID.": "Mindestens 12 Zeichen. Alle anderen Geräte werden abgemeldet, und dieses erhält eine neue Sitzungs-ID.",
		"Back to the shop":               "Zurück zum Shop",
		"Browse the cookies":             "Zu den Keksen",
		"Cart":                           "Warenkorb",
		"Change password":                "Passwort ändern",
		"Change your password":           "Passwort ändern",
		"Cookies, fresh from the server": "Kekse, frisch vom Server",
		"Current password":               "Aktuelles Passwort",
		"Dark":                           "Dunkel",
		"Demo accounts live in the server's memory: a new password lasts until the server restarts.": "Die Demo-Konten liegen im Speicher des Servers: Ein neues Passwort gilt bis zu seinem Neustart.",
		"Demo accounts": "Demo-Konten",
		"Dismiss":       "Ausblenden",
		"Ends":          "Endet",
		"Kept in a sealed cookie in your browser, not in your session: they work without an account and survive a browser restart.": "In einem versiegelten Cookie Ihres Browsers gespeichert, nicht in Ihrer Sitzung: Sie funktionieren ohne Konto und überstehen einen Browser-Neustart.",
		"Language":                "Sprache",
		"In your cart":            "In Ihrem Warenkorb",
		"Last seen":               "Zuletzt aktiv",
		"Light":                   "Hell",
		"Log in to order":         "Zum Bestellen anmelden",
		"Log in":                  "Anmelden",
		"Log out everywhere else": "Überall sonst abmelden",
		"Log out":                 "Abmelden",
		"Logged in":               "Angemeldet",
		"Main":                    "Hauptmenü",
		"Network":                 "Netzwerk",
		"New password again":      "Neues Passwort wiederholen",
		"New password":            "Neues Passwort",
		"No API client holds a refresh token for your account.": "Kein API-Client besitzt ein Refresh-Token für Ihr Konto.",
		"Password":                      "Passwort",
		"Place order":                   "Bestellen",
		"Preferences":                   "Einstellungen",
		"Quantity":                      "Menge",
		"Remember me on this device":    "Auf diesem Gerät angemeldet bleiben",
		"Remembered":                    "Gemerkt",
		"Remove":                        "Entfernen",
		"Revoke":                        "Widerrufen",
		"Same as the system":            "Wie das System",
		"Save":                          "Speichern",
		"Sessions are kept in":          "Sitzungen liegen in",
		"Shop":                          "Shop",
		"Show the welcome banner":       "Willkommensbanner anzeigen",
		"Switch between light and dark": "Zwischen hell und dunkel wechseln",
		"Theme":                         "Design",
		"These browsers are logged in to your account. If you do not recognise one, revoke it: its next request will be logged out.": "Diese Browser sind bei Ihrem Konto angemeldet. Wenn Sie einen nicht kennen, widerrufen Sie ihn: Seine nächste Anfrage wird abgemeldet.",
		"This device": "Dieses Gerät",
		"Total":       "Summe",
		"Update":      "Ändern",
		"Username":    "Benutzername",
		"Welcome to the httpstate demo shop. Nothing here is for sale: it shows sessions, carts and preferences working end to end.": "Willkommen im Demo-Shop von httpstate. Hier wird nichts verkauft: Er zeigt Sitzungen, Warenkörbe und Einstellungen im Zusammenspiel.",
		"Without it you are logged out when the browser closes; with it, after a week without a visit.":                              "Ohne diese Option werden Sie beim Schließen des Browsers abgemeldet, mit ihr nach einer Woche ohne Besuch.",
		"Your cart is empty.": "Ihr Warenkorb ist leer.",
		"Your cart lives in a server-side session: reload, open a second tab, come back tomorrow with “remember me”. It is all still there.": "Ihr Warenkorb liegt in einer serverseitigen Sitzung: Neu laden, zweiten Tab öffnen, morgen mit „angemeldet bleiben“ wiederkommen. Alles ist noch da.",
		"Your cart":    "Ihr Warenkorb",
		"Your devices": "Ihre Geräte",
		"each":         "pro Stück",
		"refreshes":    "Erneuerungen",
		"served by":    "ausgeliefert von",

		"Added %s to your cart.":             "%s liegt im Warenkorb.",
		"Your cart was updated.":             "Ihr Warenkorb wurde geändert.",
		"That product does not exist.":       "Dieses Produkt gibt es nicht.",
		"Please log in to place your order.": "Bitte melden Sie sich zum Bestellen an.",
		"Thank you! Your order of %d cookies (%s) is on its way. (Not really: this is a demo.)": "Danke! Ihre Bestellung von %d Keksen (%s) ist unterwegs. (Nicht wirklich: Dies ist eine Demo.)",
		"Welcome back, %s.":           "Willkommen zurück, %s.",
		"You have been logged out.":   "Sie wurden abgemeldet.",
		"Wrong username or password.": "Benutzername oder Passwort falsch.",
		"Too many failed attempts for this account. Try again in %d minutes.":                   "Zu viele Fehlversuche für dieses Konto. Versuchen Sie es in %d Minuten erneut.",
		"Too many failed logins from your network. Try again in %d minutes.":                    "Zu viele fehlgeschlagene Anmeldungen aus Ihrem Netzwerk. Versuchen Sie es in %d Minuten erneut.",
		"The server is busy checking other logins. Please try again in a moment.":               "Der Server prüft gerade andere Anmeldungen. Bitte versuchen Sie es gleich noch einmal.",
		"Your session has ended: it timed out, was logged out, or is not known to this server.": "Ihre Sitzung ist beendet: Sie ist abgelaufen, wurde abgemeldet oder ist diesem Server unbekannt.",
		"Please log in to see this page.":                                                       "Bitte melden Sie sich an, um diese Seite zu sehen.",
		"That session had already ended.":                                                       "Diese Sitzung war bereits beendet.",
		"The device was logged out.":                                                            "Das Gerät wurde abgemeldet.",
		"Other sessions logged out: %d.":                                                        "Abgemeldete andere Sitzungen: %d.",
		"The API client was revoked.":                                                           "Der API-Client wurde widerrufen.",
		"Preferences saved.":                                                                    "Einstellungen gespeichert.",
		"The current password is wrong.":                                                        "Das aktuelle Passwort ist falsch.",
		"The two new passwords do not match.":                                                   "Die beiden neuen Passwörter stimmen nicht überein.",
		"The new password must be at least 12 characters long.":                                 "Das neue Passwort muss mindestens 12 Zeichen lang sein.",
		"The new password must be at most 128 characters long.":                                 "Das neue Passwort darf höchstens 128 Zeichen lang sein.",
		"Password changed. Other sessions logged out: %d.":                                      "Passwort geändert. Abgemeldete andere Sitzungen: %d.",
		"Page not found":            "Seite nicht gefunden",
		"This page does not exist.": "Diese Seite gibt es nicht.",
		"Request refused":           "Anfrage abgelehnt",
		"This form was sent from another site, so it was refused. Nothing was changed.": "Dieses Formular wurde von einer anderen Website gesendet und deshalb abgelehnt. Nichts wurde geändert.",
		"Service unavailable": "Dienst nicht verfügbar",
		"Session storage did not answer. Please try again in a moment.": "Der Sitzungsspeicher hat nicht geantwortet. Bitte versuchen Sie es gleich noch einmal.",
		"Something went wrong": "Etwas ist schiefgegangen",
		"Please try again.":    "Bitte versuchen Sie es erneut.",
		"Too many attempts":    "Zu viele Versuche",
		"just now":             "gerade eben",
		"%d min ago":           "vor %d Min.",
		"%d h ago":             "vor %d Std.",
		"%d days ago":          "vor %d Tagen",
	},
}
