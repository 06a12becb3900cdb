package demo

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/httpstate/httpstate/session"
)

// product is an item of the catalogue. Names and descriptions are given
// per language.
type product struct {
	SKU   string
	Price int // euro cents
	Name  map[string]string
	Desc  map[string]string
}

var catalogue = []product{
	{"chocolate-chip", 250,
		map[string]string{"en": "Chocolate chip cookie", "fr": "Cookie aux pépites de chocolat", "de": "Schokoladenkeks"},
		map[string]string{"en": "The classic: crisp at the edges, soft in the middle.", "fr": "Le classique : croustillant au bord, fondant au cœur.", "de": "Der Klassiker: knusprig am Rand, weich in der Mitte."}},
	{"double-chocolate", 290,
		map[string]string{"en": "Double chocolate cookie", "fr": "Cookie double chocolat", "de": "Doppelschoko-Keks"},
		map[string]string{"en": "Dark dough, white chocolate chunks, no regrets.", "fr": "Pâte cacaotée, éclats de chocolat blanc, aucun regret.", "de": "Dunkler Teig, weiße Schokostücke, keine Reue."}},
	{"oatmeal-raisin", 240,
		map[string]string{"en": "Oatmeal raisin cookie", "fr": "Cookie avoine et raisins", "de": "Haferkeks mit Rosinen"},
		map[string]string{"en": "Chewy oats and plump raisins.", "fr": "Flocons d'avoine moelleux et raisins charnus.", "de": "Kernige Haferflocken und saftige Rosinen."}},
	{"macadamia", 320,
		map[string]string{"en": "White chocolate macadamia", "fr": "Chocolat blanc et macadamia", "de": "Macadamia mit weißer Schokolade"},
		map[string]string{"en": "Buttery nuts and creamy white chocolate.", "fr": "Noix fondantes et chocolat blanc crémeux.", "de": "Buttrige Nüsse und cremige weiße Schokolade."}},
	{"fortune", 120,
		map[string]string{"en": "Fortune cookie", "fr": "Biscuit chinois", "de": "Glückskeks"},
		map[string]string{"en": "Crisp and light, with a secret inside.", "fr": "Croquant et léger, avec un secret à l'intérieur.", "de": "Knusprig und leicht, mit einem Geheimnis im Inneren."}},
	{"gingerbread", 220,
		map[string]string{"en": "Gingerbread", "fr": "Pain d'épices", "de": "Lebkuchen"},
		map[string]string{"en": "Spiced with ginger, cinnamon and cloves.", "fr": "Épicé au gingembre, à la cannelle et au clou de girofle.", "de": "Mit Ingwer, Zimt und Nelken gewürzt."}},
}

func findProduct(sku string) (product, bool) {
	for _, p := range catalogue {
		if p.SKU == sku {
			return p, true
		}
	}
	return product{}, false
}

// maxQty bounds one line of the cart, so a client cannot grow a session
// without limit.
const maxQty = 99

// cart is the shopping cart kept in the session under cartKey: quantities
// by SKU. It is changed only through session.Update, so two tabs adding
// items at the same moment both count.
type cart struct {
	Items map[string]int `json:"items,omitempty"`
}

const cartKey = "cart"

func cartFrom(s *session.Session) cart {
	c, err := session.Get[cart](s, cartKey)
	if err != nil {
		return cart{}
	}
	return c
}

func (c cart) count() int {
	n := 0
	for _, q := range c.Items {
		n += q
	}
	return n
}

func (c cart) total() int {
	t := 0
	for sku, q := range c.Items {
		if p, ok := findProduct(sku); ok {
			t += p.Price * q
		}
	}
	return t
}

// withQty returns a copy of c with sku's quantity set to qty (0 removes
// it). Copying matters: Update may call its function again on a fresher
// cart after a conflict, and must not see this attempt's changes.
func (c cart) withQty(sku string, qty int) cart {
	items := maps.Clone(c.Items)
	if items == nil {
		items = map[string]int{}
	}
	qty = min(max(qty, 0), maxQty)
	if qty == 0 {
		delete(items, sku)
	} else {
		items[sku] = qty
	}
	return cart{Items: items}
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(r, "Shop", "shop")
	c := cartFrom(session.FromContext(r.Context()))
	type item struct {
		SKU, Name, Desc, Price string
		InCart                 int
	}
	items := make([]item, len(catalogue))
	for i, pr := range catalogue {
		items[i] = item{pr.SKU, pr.Name[p.Lang], pr.Desc[p.Lang], formatPrice(p.Lang, pr.Price), c.Items[pr.SKU]}
	}
	p.Data = struct{ Products []item }{items}
	a.render(w, r, http.StatusOK, "home", p)
}

func (a *App) cartPage(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(r, "Your cart", "cart")
	c := cartFrom(session.FromContext(r.Context()))
	type line struct {
		SKU, Name, Unit, Total string
		Qty                    int
	}
	var lines []line
	// Catalogue order, so lines do not jump around between reloads.
	for _, pr := range catalogue {
		if q := c.Items[pr.SKU]; q > 0 {
			lines = append(lines, line{pr.SKU, pr.Name[p.Lang], formatPrice(p.Lang, pr.Price), formatPrice(p.Lang, pr.Price*q), q})
		}
	}
	p.Data = struct {
		Lines []line
		Total string
	}{lines, formatPrice(p.Lang, c.total())}
	a.render(w, r, http.StatusOK, "cart", p)
}

// addToCart adds one of a product. Update reruns the function on the
// latest cart if another request saved the session first.
func (a *App) addToCart(w http.ResponseWriter, r *http.Request) {
	lang := a.prefsFor(r).Lang
	pr, ok := findProduct(r.PostFormValue("sku"))
	if !ok {
		a.flash(r, "error", translate(lang, "That product does not exist."))
		redirect(w, r, r.PostFormValue("return"))
		return
	}
	s := session.FromContext(r.Context())
	if _, err := session.Update(s, cartKey, func(c cart) cart { return c.withQty(pr.SKU, c.Items[pr.SKU]+1) }); err != nil {
		a.fail(w, r, "updating the cart failed", err)
		return
	}
	a.flash(r, "success", translatef(lang, "Added %s to your cart.", pr.Name[lang]))
	redirect(w, r, r.PostFormValue("return"))
}

// setQuantity sets a line's quantity; 0 removes the line.
func (a *App) setQuantity(w http.ResponseWriter, r *http.Request) {
	lang := a.prefsFor(r).Lang
	pr, ok := findProduct(r.PostFormValue("sku"))
	qty, err := strconv.Atoi(r.PostFormValue("qty"))
	if !ok || err != nil {
		a.flash(r, "error", translate(lang, "That product does not exist."))
		redirect(w, r, "/cart")
		return
	}
	s := session.FromContext(r.Context())
	if _, err := session.Update(s, cartKey, func(c cart) cart { return c.withQty(pr.SKU, qty) }); err != nil {
		a.fail(w, r, "updating the cart failed", err)
		return
	}
	a.flash(r, "success", translate(lang, "Your cart was updated."))
	redirect(w, r, "/cart")
}

// checkout "places" the order: it needs a logged-in user, then empties the
// cart.
func (a *App) checkout(w http.ResponseWriter, r *http.Request) {
	lang := a.prefsFor(r).Lang
	s := session.FromContext(r.Context())
	if a.currentUser(s) == nil {
		a.flash(r, "info", translate(lang, "Please log in to place your order."))
		redirect(w, r, "/login?next=/cart")
		return
	}
	c := cartFrom(s)
	if c.count() == 0 {
		redirect(w, r, "/cart")
		return
	}
	s.Delete(cartKey)
	a.log.InfoContext(r.Context(), "order placed", "user", s.UserID(), "items", c.count(), "skus", slices.Sorted(maps.Keys(c.Items)))
	a.flash(r, "success", translatef(lang, "Thank you! Your order of %d cookies (%s) is on its way. (Not really: this is a demo.)", c.count(), formatPrice(lang, c.total())))
	redirect(w, r, "/")
}
