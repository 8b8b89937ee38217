<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>AddPersonDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="104"/>
        <source>Add a person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="107"/>
        <source>e.g. jdoe</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="107"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="108"/>
        <source>e.g. Jane Doe</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="108"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="109"/>
        <source>&amp;Administrator (may use this console)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="111"/>
        <source>Administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="114"/>
        <source>Add</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="116"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="121"/>
        <source>&amp;Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="122"/>
        <source>&amp;Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="132"/>
        <source>Enter a username.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AdminMessages</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="19"/>
        <source>The token service cannot be reached: check the network, then try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="23"/>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="26"/>
        <source>Your admin session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="29"/>
        <source>This person is not an administrator: sign in with an administrator&apos;s key, card or code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="34"/>
        <source>No security key was found: insert or tap the key, then retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="37"/>
        <source>No card reader was found: connect one, then retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="40"/>
        <source>No card is in the reader: insert the card, then retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="43"/>
        <source>The smart card service is not running: start pcscd, then retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="46"/>
        <source>The card was removed too early: insert it again and retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="49"/>
        <source>The key was removed too early: insert or tap it again and retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="52"/>
        <source>The key was not touched in time: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="55"/>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="56"/>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="57"/>
        <source>Cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="72"/>
        <source>The file could not be used: {reason}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/messages.py" line="75"/>
        <source>Something unexpected went wrong ({kind}): try again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AdminWindow</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="77"/>
        <source>Tokenstile administration</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="119"/>
        <source>Administration</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="122"/>
        <source>Signed in as</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="123"/>
        <source>Sign &amp;out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="129"/>
        <source>Sections</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="131"/>
        <source>&amp;People</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="132"/>
        <source>&amp;Sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="133"/>
        <source>&amp;Clients</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="134"/>
        <source>&amp;Audit log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="163"/>
        <source>Signed in as {username}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="181"/>
        <source>Signed out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="191"/>
        <source>Your admin session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="200"/>
        <source>Signed out after {n} minutes without activity.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="202"/>
        <source>Signed out after 1 minute without activity.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AuditPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="62"/>
        <source>Anyone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="62"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="115"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="65"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="113"/>
        <source>Event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="71"/>
        <source>Any event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="75"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="114"/>
        <source>Outcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="76"/>
        <source>Any outcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="80"/>
        <source>&amp;From</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="82"/>
        <source>Only from a time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="85"/>
        <source>From</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="86"/>
        <source>&amp;Until</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="88"/>
        <source>Only until a time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="91"/>
        <source>Until</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="99"/>
        <source>&amp;Search</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="110"/>
        <source>Audit events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="112"/>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="116"/>
        <source>Client</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="117"/>
        <source>Factor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="118"/>
        <source>Origin</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="119"/>
        <source>Detail</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="124"/>
        <source>No events match these filters.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="125"/>
        <source>&amp;Newest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="126"/>
        <source>Newest events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="128"/>
        <source>&amp;Older</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="129"/>
        <source>Older events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="135"/>
        <source>Export format</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="138"/>
        <source>&amp;Export…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="143"/>
        <source>&amp;Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="145"/>
        <source>E&amp;vent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="147"/>
        <source>Ou&amp;tcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="232"/>
        <source>Page {page}: {n} events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="248"/>
        <source>Saved the audit log to {path}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="251"/>
        <source>Exporting…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ClientDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="76"/>
        <source>Change the URIs of {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="78"/>
        <source>Register a web or native app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="82"/>
        <source>e.g. Records</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="82"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="85"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="86"/>
        <source>Web app (a server: gets a secret)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="87"/>
        <source>Native app (desktop or mobile: no secret, PKCE)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="94"/>
        <source>Redirect URIs, one a line</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="95"/>
        <source>https://app.example/callback</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="99"/>
        <source>Post-logout redirect URIs, one a line</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="100"/>
        <source>Optional: https://app.example/signed-out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="103"/>
        <source>Optional: https://app.example/backchannel-logout</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="105"/>
        <source>Back-channel logout URI</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="110"/>
        <source>Save</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="110"/>
        <source>Register</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="116"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="122"/>
        <source>&amp;Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="123"/>
        <source>&amp;Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="125"/>
        <source>&amp;Redirect URIs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="126"/>
        <source>&amp;Post-logout URIs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="127"/>
        <source>&amp;Back-channel logout</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="155"/>
        <source>Redirect URIs: https:// (http:// only on 127.0.0.1 or [::1], for development). The secret is shown once, after registering.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="160"/>
        <source>Redirect URIs: http://127.0.0.1/path or http://[::1]/path (any port matches), or a claimed https:// URI. Native apps have no back-channel logout.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="196"/>
        <source>Enter the app&apos;s name.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="200"/>
        <source>Enter at least one redirect URI.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="223"/>
        <source>Nothing has changed.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ClientsPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="332"/>
        <source>Web and native apps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="334"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="335"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="336"/>
        <source>Client ID</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="337"/>
        <source>Redirect URIs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="338"/>
        <source>Authentication</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="339"/>
        <source>State</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="343"/>
        <source>No web or native apps yet: register one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="347"/>
        <source>&amp;Register app…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="349"/>
        <source>Register a web or native app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="351"/>
        <source>&amp;Edit URIs…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="352"/>
        <source>Change the selected app&apos;s URIs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="355"/>
        <source>New secre&amp;t…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="357"/>
        <source>Give the selected app a new secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="359"/>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="541"/>
        <source>&amp;Disable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="362"/>
        <source>Re&amp;fresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="397"/>
        <source>Web app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="397"/>
        <source>Native app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="399"/>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="400"/>
        <source>Secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="401"/>
        <source>Signed key (private_key_jwt)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="402"/>
        <source>None (PKCE)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="413"/>
        <source>Active</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="413"/>
        <source>Disabled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="437"/>
        <source>Registered {name}: its client ID is {client_id}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="455"/>
        <source>Saved the URIs of {name}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="465"/>
        <source>Give {name} a new secret? Its current secret stops working now: the app cannot sign anyone in until its configuration has the new one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="468"/>
        <source>New secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="473"/>
        <source>{name} has a new secret.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="488"/>
        <source>Disable {name}? No one can sign in to it through Tokenstile, and its token requests are refused, until it is enabled again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="491"/>
        <source>Disable an app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="493"/>
        <source>Disabled {name}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="495"/>
        <source>Enabled {name}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="541"/>
        <source>E&amp;nable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="543"/>
        <source>Disable the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="543"/>
        <source>Enable the app</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CodeEntry</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="326"/>
        <source>Code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="327"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="329"/>
        <source>Your username, then the 6 or 8 digits your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="333"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="334"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="338"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="339"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="353"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="355"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="356"/>
        <source>Cancel the code entry</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DemoPanel</name>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="203"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="211"/>
        <source>Demo devices</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="213"/>
        <source>Stand-ins for the hardware: use them as you would the real thing.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="215"/>
        <source>Keyboard: %1 plug in or unplug the key, %2 tap it, %3 the card.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="219"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="222"/>
        <source>The demo allows this software key; it signs in as one (swk).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="228"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="306"/>
        <source>Plug in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="228"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="308"/>
        <source>Plug in the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="231"/>
        <source>Tap the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="231"/>
        <source>Tap the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="237"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="242"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="321"/>
        <source>Insert card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="242"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="323"/>
        <source>Insert the smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="246"/>
        <source>One-time codes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="300"/>
        <source>Not plugged in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="302"/>
        <source>Blinking: it waits for a touch.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="304"/>
        <source>Plugged in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="306"/>
        <source>Unplug</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="308"/>
        <source>Unplug the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="319"/>
        <source>In the reader.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="319"/>
        <source>Not in a reader.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="321"/>
        <source>Pull card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="323"/>
        <source>Pull the smart card</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DemoWindow</name>
    <message>
        <location filename="../../app/tokenstile/demo/window.py" line="81"/>
        <source>Tokenstile kiosk demo</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/window.py" line="96"/>
        <location filename="../../app/tokenstile/demo/window.py" line="139"/>
        <source>Demo devices</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/window.py" line="100"/>
        <source>Show or hide the demo devices</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/window.py" line="139"/>
        <source>Hide devices</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollAppDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="56"/>
        <source>Set up an authenticator app for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="65"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="85"/>
        <source>Authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="65"/>
        <source>Name of the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="65"/>
        <source>&amp;Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="69"/>
        <source>QR code to scan with the authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="74"/>
        <source>Key to type into the app instead of scanning</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="75"/>
        <source>6 or 8 digits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="75"/>
        <source>Code shown by the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="77"/>
        <source>&amp;Confirm</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="80"/>
        <source>C&amp;ode from the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="82"/>
        <source>Show QR code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="82"/>
        <source>Show the QR code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="89"/>
        <source>Creating a secret…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="97"/>
        <source>Type the code the app shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="105"/>
        <source>Checking the code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="116"/>
        <source>Can&apos;t scan? Type this key: {key}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="122"/>
        <source>Ask {name} to scan the code, then type the code the app shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="130"/>
        <source>The authenticator app of {name} is set up.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollCardDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="209"/>
        <source>Enroll a smart card for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="212"/>
        <source>&amp;Use the certificate already on the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="214"/>
        <source>Use the certificate already on the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="216"/>
        <source>&amp;Generate a new key on the card and issue its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="220"/>
        <source>Generate a new key on the card and issue its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="223"/>
        <source>Badge</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="223"/>
        <source>Name of the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="225"/>
        <source>&amp;Name of the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="232"/>
        <source>Insert the card, then press Start. {name} types the card&apos;s PIN so the card can prove it holds its key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="243"/>
        <source>Reading the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="263"/>
        <source>The card is signing a test challenge…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="268"/>
        <source>Asking the card to attest its key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="346"/>
        <source>Generating a key on the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="349"/>
        <source>Asking the card to attest its new key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="363"/>
        <source>Setting the card up: its PIN, PUK and management key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="372"/>
        <source>Writing the certificate to the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="409"/>
        <source>This card still has its factory PIN. Ask {name} to choose a new one (6 to 8 digits), twice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="418"/>
        <source>Choose the card&apos;s new PUK (6 to 8 characters), twice, and keep it where the PUKs are kept: it unblocks the PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="427"/>
        <source>Ask {name} to type the card&apos;s PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="429"/>
        <source>Ask {name} to type the card&apos;s PIN ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="433"/>
        <source>Wrong PIN. </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="442"/>
        <source>a new key and certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="444"/>
        <source>its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="446"/>
        <source>Enrolled the card of {name} ({how}), valid until {until}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="451"/>
        <source>Key generated on the card: attested by {root}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="455"/>
        <source>Not attested: {reason}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="459"/>
        <source>Card set up: {steps} (its management key is now under its PIN).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="467"/>
        <source>This card still has its factory management key: set it up with “tokenstile manage piv enroll --generate”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="475"/>
        <source>new PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="476"/>
        <source>new PUK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="477"/>
        <source>PUK blocked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="478"/>
        <source>random {algorithm} management key</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="56"/>
        <source>Start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="57"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="147"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="148"/>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="153"/>
        <source>Done.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollKeyDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="114"/>
        <source>Enroll a security key for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="118"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="132"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="120"/>
        <source>Name of the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="121"/>
        <source>&amp;Name of the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="126"/>
        <source>Insert or tap the key, then press Start. {name} may need to type its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="134"/>
        <source>Looking for the key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="139"/>
        <source>Insert or tap the security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="170"/>
        <source>Touch the security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="149"/>
        <source>Setting the key&apos;s PIN…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="153"/>
        <source>Saving…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="180"/>
        <source>This key has no PIN yet. Ask {name} to choose one (4 to 63 characters), twice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="185"/>
        <source>Ask {name} to type the key&apos;s PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="187"/>
        <source>Ask {name} to type the key&apos;s PIN ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="198"/>
        <source>Enrolled the key “{label}” for {name}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="109"/>
        <source>Tokenstile</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ImportPskcDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="154"/>
        <source>Import fobs from {file}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="160"/>
        <source>only if the file is encrypted</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="160"/>
        <source>Pre-shared key (hex)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="164"/>
        <source>&amp;Pre-shared key (hex)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="171"/>
        <source>Imported fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="172"/>
        <source>Serial</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="172"/>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="172"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="172"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="174"/>
        <source>username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="174"/>
        <source>Hand the fob to</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="176"/>
        <source>&amp;Hand over</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="177"/>
        <source>Hand the selected fob to the person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="180"/>
        <source>Hand the selected fob &amp;to</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="184"/>
        <source>&amp;Import</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="184"/>
        <source>Import the file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="199"/>
        <source>Importing…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="205"/>
        <source>Select a fob first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="208"/>
        <source>Type the username of the person who gets the fob.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="216"/>
        <source>Handing over…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="226"/>
        <source>Imported {n} fobs from {packages} key packages.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="232"/>
        <source>Select each fob and hand it to its person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="235"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="236"/>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="243"/>
        <source>Handed {serial} to {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_otp.py" line="258"/>
        <source>not handed out</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="90"/>
        <source>Tokenstile sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="254"/>
        <source>Signed out: the card was taken out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="255"/>
        <source>Your session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="362"/>
        <source>Someone else is signed in here: they must sign out first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="375"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="493"/>
        <source>%1 was signed out here, but the sign-in service could not be told to end their session: tell the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="495"/>
        <source>The previous person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="197"/>
        <source>Cancelling…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="189"/>
        <source>Touch your key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="191"/>
        <source>Touch the button or the gold disc on your security key now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="503"/>
        <source>Signed out here, but the sign-in service could not be told: tell the service desk if this keeps happening.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="177"/>
        <source>Reading your key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="178"/>
        <source>Reading your card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="179"/>
        <source>Checking your code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="161"/>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="182"/>
        <source>Checking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="184"/>
        <source>This takes a moment.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="143"/>
        <source>Tap or insert your security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="146"/>
        <source>Insert your card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="148"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="85"/>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="149"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="252"/>
        <source>Signed in as %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="256"/>
        <source>Signed in since %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="258"/>
        <source>Session time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="295"/>
        <source>%1 is signed in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="419"/>
        <source>This session has ended: sign in again to go on.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="424"/>
        <source>%1 h %2 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="427"/>
        <source>%1 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="430"/>
        <source>%1 s left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="320"/>
        <source>Message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="313"/>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="93"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="94"/>
        <source>Tap it on the reader or plug it in, then touch it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="100"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="101"/>
        <source>Insert your card, then enter its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="105"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="106"/>
        <source>Type your username and the code your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="119"/>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="284"/>
        <source>Enter a code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="159"/>
        <source>Working</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="164"/>
        <source>Details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="166"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="168"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="224"/>
        <source>Lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="227"/>
        <source>Lock the screen</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="230"/>
        <source>Sign out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="268"/>
        <source>Locked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="275"/>
        <source>To unlock, use the same key, card or code. Someone else signing in signs them out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/screens.py" line="287"/>
        <source>Unlock with a code</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Messages</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="54"/>
        <source>Wrong PIN: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="57"/>
        <source>Wrong PIN: 1 try left before the card locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="60"/>
        <source>Wrong PIN: 1 try left before the key locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="62"/>
        <source>Wrong PIN: %1 tries left before the card locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="65"/>
        <source>Wrong PIN: %1 tries left before the key locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="73"/>
        <source>This sign-in service is pretending to be another one, so your key was not used: tell the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="78"/>
        <source>This sign-in service asked the card to sign something else, so it signed nothing: tell the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="84"/>
        <source>Your card&apos;s PIN is blocked: take the card to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="88"/>
        <source>The card was taken out too soon: insert it again to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="92"/>
        <source>The card was reset by another program: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="96"/>
        <source>Another program is using the card: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="100"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="104"/>
        <source>The card could not be read: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="108"/>
        <source>The card could not be found: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="112"/>
        <source>This card cannot sign in here: use your work card, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="116"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="120"/>
        <source>This card has no sign-in certificate: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="124"/>
        <source>This card cannot be read here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="128"/>
        <source>This card cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="132"/>
        <source>A card PIN is 6 to 8 digits: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="136"/>
        <source>The card reader is not working: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="140"/>
        <source>The card reader is not connected: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="144"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="181"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="149"/>
        <source>No security key was found: insert or tap your key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="153"/>
        <source>Your key&apos;s PIN is blocked: take the key to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="157"/>
        <source>Three wrong PINs in a row: take the key out, insert it again and retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="161"/>
        <source>Your key has no PIN yet: see the service desk to set one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="165"/>
        <source>Your key needs its PIN: tap or insert it again and enter the PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="169"/>
        <source>Your key&apos;s fingerprint check is blocked: tap it again and use its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="173"/>
        <source>Your fingerprint was not recognised: tap your key and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="177"/>
        <source>The key was not touched in time: tap or insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="185"/>
        <source>The key was taken away too soon: insert or tap it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="189"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="236"/>
        <source>This key is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="193"/>
        <source>The sign-in was refused on the key: tap it again to retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="197"/>
        <source>This key cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="201"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="205"/>
        <source>The key could not be read: take it out and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="210"/>
        <source>The sign-in service cannot be reached: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="214"/>
        <source>This workstation cannot keep your session (its keychain is not available): see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="219"/>
        <source>You are not signed in: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="224"/>
        <source>The sign-in service is busy: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="232"/>
        <source>This card is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="240"/>
        <source>That username and code do not match: check the code on your fob and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="244"/>
        <source>Sign-in was refused: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="252"/>
        <source>Something went wrong: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="266"/>
        <source>Too many tries: wait %1 seconds, then try again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PeoplePage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="177"/>
        <source>Search by username or name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="179"/>
        <source>Search people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="182"/>
        <source>Show &amp;disabled people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="184"/>
        <source>Show disabled people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="191"/>
        <source>People</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="193"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="194"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="235"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="195"/>
        <source>Role</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="196"/>
        <source>Status</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="197"/>
        <source>Keys</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="198"/>
        <source>Cards</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="199"/>
        <source>Fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="207"/>
        <source>&amp;Add person…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="210"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="518"/>
        <source>D&amp;isable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="212"/>
        <source>&amp;Enroll</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="213"/>
        <source>Enroll a key, card or app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="216"/>
        <source>Security key (FIDO2)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="217"/>
        <source>Smart card (PIV)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="218"/>
        <source>Authenticator app (TOTP)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="224"/>
        <source>&amp;Import fobs (PSKC)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="232"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="436"/>
        <source>Keys, cards and fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="234"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="236"/>
        <source>State</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="237"/>
        <source>Enrolled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="238"/>
        <source>Last used</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="239"/>
        <source>Identifier</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="244"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="438"/>
        <source>Select a person to see their keys, cards and fobs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="247"/>
        <source>&amp;Revoke</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="249"/>
        <source>Revoke the selected credential</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="264"/>
        <source>Show &amp;more</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="265"/>
        <source>Show more people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="368"/>
        <source>Administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="368"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="369"/>
        <source>Active</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="369"/>
        <source>Disabled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="384"/>
        <source>{n} of {total} people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="387"/>
        <source>No one matches “{query}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="389"/>
        <source>No one here yet: add a person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="404"/>
        <source>Added {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="416"/>
        <source>Disable {username}? They can no longer sign in, and their sessions end now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="418"/>
        <source>Disable a person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="420"/>
        <source>Disabled {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="422"/>
        <source>Enabled {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="443"/>
        <source>Keys, cards and fobs of {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="445"/>
        <source>{name} has no keys, cards or fobs yet: use Enroll.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="458"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="459"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="460"/>
        <source>One-time codes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="488"/>
        <source>suspended: the FIDO metadata reports {status} for this model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="489"/>
        <source>a refused status</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="492"/>
        <source>suspended: its signature counter went back (a cloned key?)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="500"/>
        <source>Revoke “{label}” for good? It can no longer be used to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="502"/>
        <source>Revoke</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="506"/>
        <source>Revoked “{label}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="518"/>
        <source>E&amp;nable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="520"/>
        <source>Disable the person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="520"/>
        <source>Enable the person</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PinPad</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="203"/>
        <source>Enter your PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="205"/>
        <source>PIN hint</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="211"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="212"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="221"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="222"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="260"/>
        <source>Delete the last digit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="265"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="266"/>
        <source>Confirm the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="282"/>
        <source>Enter your card&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="284"/>
        <source>Enter your key&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="290"/>
        <source>Type it here or on your keyboard, then press OK.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PinRows</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="173"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="196"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="174"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="198"/>
        <source>The same PIN again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="175"/>
        <source>&amp;Again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="177"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="178"/>
        <source>Send the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="183"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="195"/>
        <source>&amp;PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="195"/>
        <source>&amp;PUK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="196"/>
        <source>PUK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="198"/>
        <source>The same PUK again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="224"/>
        <source>The two PUKs differ: type them again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="226"/>
        <source>The two PINs differ: type them again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll_frame.py" line="242"/>
        <source>A key&apos;s PIN has 4 to 63 characters.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>QtDialogs</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="96"/>
        <source>Import a PSKC file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="98"/>
        <source>PSKC files (*.xml *.pskc *.pskcxml);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="107"/>
        <source>Export the audit log</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SecretDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="234"/>
        <source>The secret of {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="241"/>
        <source>This secret is shown only now. Copy it into the app&apos;s configuration before you close this window: Tokenstile keeps only a hash of it and cannot show it again. If it is lost, give the app a new secret.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="250"/>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="262"/>
        <source>Client ID</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="252"/>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="263"/>
        <source>Client secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="253"/>
        <source>&amp;Copy secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="255"/>
        <source>Copy client &amp;ID</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="259"/>
        <source>&amp;Done</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="301"/>
        <source>The secret is on the clipboard until this window closes.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/clients.py" line="314"/>
        <source>The client ID is on the clipboard.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SessionsPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="32"/>
        <source>All people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="32"/>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="47"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="33"/>
        <source>&amp;Live sessions only</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="35"/>
        <source>Live sessions only</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="38"/>
        <source>Re&amp;fresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="45"/>
        <source>Sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="48"/>
        <source>Client</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="49"/>
        <source>Factor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="50"/>
        <source>Started</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="51"/>
        <source>Last used</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="52"/>
        <source>Ends</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="53"/>
        <source>State</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="57"/>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="115"/>
        <source>No sessions to show.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="60"/>
        <source>&amp;Revoke session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="90"/>
        <source>Revoked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="93"/>
        <source>Revoked ({reason})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="95"/>
        <source>Live (this console)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="97"/>
        <source>Live</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="113"/>
        <source>No live sessions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="125"/>
        <source>End the session of {username} on {client} now?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="128"/>
        <source>Revoke a session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="134"/>
        <source>The session has ended.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="136"/>
        <source>That session had already ended.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SignInPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="73"/>
        <source>Administrator sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="76"/>
        <source>Sign in with your own security key, smart card or one-time code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="79"/>
        <source>Token service: {server}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="82"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="83"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="84"/>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="112"/>
        <source>One-time code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="97"/>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="100"/>
        <source>Start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="98"/>
        <source>Start the security key sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="101"/>
        <source>Start the smart card sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="105"/>
        <source>Insert or tap your security key, then press Start.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="109"/>
        <source>Insert your smart card, then press Start.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="111"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="112"/>
        <source>6 or 8 digits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="115"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="121"/>
        <source>&amp;Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="121"/>
        <source>&amp;Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="137"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="138"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="139"/>
        <source>Send the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="142"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="197"/>
        <source>Enter your username and the code from your fob or app.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="205"/>
        <source>Checking the code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="216"/>
        <source>Insert or tap your security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="225"/>
        <source>Touch your security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="239"/>
        <source>Looking for your security key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="262"/>
        <source>Reading your card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="303"/>
        <source>Cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="324"/>
        <source>your security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="324"/>
        <source>your card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="325"/>
        <source>Enter the PIN of {what}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="327"/>
        <source>Enter the PIN of {what} ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="329"/>
        <source>Wrong PIN. </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="344"/>
        <source>Checking the PIN…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>StatusLine</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/widgets.py" line="117"/>
        <source>Status</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>_OtpAccount</name>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="132"/>
        <source>Current one-time code of %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="141"/>
        <source>Seconds the code has left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="144"/>
        <location filename="../../app/tokenstile/demo/panel.py" line="158"/>
        <source>Show QR</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="145"/>
        <source>Show the QR code of %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="150"/>
        <source>QR code for an authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/demo/panel.py" line="172"/>
        <source>Hide QR</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
