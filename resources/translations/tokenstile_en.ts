<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>AddPersonDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="90"/>
        <source>Add a person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="93"/>
        <source>e.g. jdoe</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="93"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="94"/>
        <source>e.g. Jane Doe</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="94"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="95"/>
        <source>&amp;Administrator (may use this console)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="97"/>
        <source>Administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="100"/>
        <source>Add</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="102"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="107"/>
        <source>&amp;Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="108"/>
        <source>&amp;Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="118"/>
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
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="68"/>
        <source>Tokenstile administration</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="99"/>
        <source>Administration</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="102"/>
        <source>Signed in as</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="103"/>
        <source>Sign &amp;out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="109"/>
        <source>Sections</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="111"/>
        <source>&amp;People</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="112"/>
        <source>&amp;Sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="113"/>
        <source>&amp;Audit log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="142"/>
        <source>Signed in as {username}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="156"/>
        <source>Signed out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/console.py" line="166"/>
        <source>Your admin session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AuditPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="63"/>
        <source>Anyone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="63"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="116"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="66"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="114"/>
        <source>Event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="72"/>
        <source>Any event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="76"/>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="115"/>
        <source>Outcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="77"/>
        <source>Any outcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="81"/>
        <source>&amp;From</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="83"/>
        <source>Only from a time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="86"/>
        <source>From</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="87"/>
        <source>&amp;Until</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="89"/>
        <source>Only until a time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="92"/>
        <source>Until</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="100"/>
        <source>&amp;Search</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="111"/>
        <source>Audit events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="113"/>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="117"/>
        <source>Client</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="118"/>
        <source>Factor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="119"/>
        <source>Origin</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="120"/>
        <source>Detail</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="125"/>
        <source>No events match these filters.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="126"/>
        <source>&amp;Newest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="127"/>
        <source>Newest events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="129"/>
        <source>&amp;Older</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="130"/>
        <source>Older events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="136"/>
        <source>Export format</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="139"/>
        <source>&amp;Export…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="144"/>
        <source>&amp;Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="146"/>
        <source>E&amp;vent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="148"/>
        <source>Ou&amp;tcome</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="238"/>
        <source>Page {page}: {n} events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="254"/>
        <source>Saved the audit log to {path}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/audit.py" line="257"/>
        <source>Exporting…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CodeEntry</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="274"/>
        <source>Code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="275"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="277"/>
        <source>Your username, then the 6 or 8 digits your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="281"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="282"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="286"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="287"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="301"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="303"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="304"/>
        <source>Cancel the code entry</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DemoPanel</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="180"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="188"/>
        <source>Demo devices</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="190"/>
        <source>Stand-ins for the hardware: use them as you would the real thing.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="193"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="198"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="261"/>
        <source>Plug in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="198"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="263"/>
        <source>Plug in the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="199"/>
        <source>Tap the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="199"/>
        <source>Tap the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="204"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="208"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="276"/>
        <source>Insert card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="208"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="278"/>
        <source>Insert the smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="211"/>
        <source>One-time codes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="255"/>
        <source>Not plugged in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="257"/>
        <source>Blinking: it waits for a touch.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="259"/>
        <source>Plugged in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="261"/>
        <source>Unplug</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="263"/>
        <source>Unplug the security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="274"/>
        <source>In the reader.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="274"/>
        <source>Not in a reader.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="276"/>
        <source>Pull card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="278"/>
        <source>Pull the smart card</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollAppDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="568"/>
        <source>Set up an authenticator app for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="576"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="577"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="599"/>
        <source>Authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="576"/>
        <source>Name of the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="579"/>
        <source>&amp;Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="583"/>
        <source>QR code to scan with the authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="588"/>
        <source>Key to type into the app instead of scanning</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="589"/>
        <source>6 or 8 digits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="589"/>
        <source>Code shown by the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="591"/>
        <source>&amp;Confirm</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="594"/>
        <source>C&amp;ode from the app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="596"/>
        <source>Show QR code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="596"/>
        <source>Show the QR code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="603"/>
        <source>Creating a secret…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="611"/>
        <source>Type the code the app shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="619"/>
        <source>Checking the code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="630"/>
        <source>Can&apos;t scan? Type this key: {key}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="636"/>
        <source>Ask {name} to scan the code, then type the code the app shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="644"/>
        <source>The authenticator app of {name} is set up.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollCardDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="414"/>
        <source>Enroll a smart card for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="419"/>
        <source>&amp;Use the certificate already on the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="421"/>
        <source>Use the certificate already on the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="423"/>
        <source>&amp;Generate a new key on the card and issue its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="427"/>
        <source>Generate a new key on the card and issue its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="430"/>
        <source>Badge</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="430"/>
        <source>Name of the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="432"/>
        <source>&amp;Name of the card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="438"/>
        <source>Insert the card, then press Start. {name} types the card&apos;s PIN so the card can prove it holds its key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="453"/>
        <source>Reading the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="470"/>
        <source>The card is signing a test challenge…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="506"/>
        <source>Generating a key on the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="515"/>
        <source>Writing the certificate to the card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="533"/>
        <source>Ask {name} to type the card&apos;s PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="535"/>
        <source>Ask {name} to type the card&apos;s PIN ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="539"/>
        <source>Wrong PIN. </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="548"/>
        <source>a new key and certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="550"/>
        <source>its certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="553"/>
        <source>Enrolled the card of {name} ({how}), valid until {until}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="125"/>
        <source>Start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="126"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="206"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="207"/>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="212"/>
        <source>Done.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EnrollKeyDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="288"/>
        <source>Enroll a security key for {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="293"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="294"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="310"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="293"/>
        <source>Name of the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="296"/>
        <source>&amp;Name of the key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="300"/>
        <source>Insert or tap the key, then press Start. {name} may need to type its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="312"/>
        <source>Looking for the key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="317"/>
        <source>Insert or tap the security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="335"/>
        <source>Touch the security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="346"/>
        <source>Setting the key&apos;s PIN…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="350"/>
        <source>Saving…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="366"/>
        <source>This key has no PIN yet. Ask {name} to choose one (4 to 63 characters), twice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="371"/>
        <source>Ask {name} to type the key&apos;s PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="373"/>
        <source>Ask {name} to type the key&apos;s PIN ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="384"/>
        <source>Enrolled the key “{label}” for {name}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="85"/>
        <source>Tokenstile</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ImportPskcDialog</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="668"/>
        <source>Import fobs from {file}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="675"/>
        <source>only if the file is encrypted</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="675"/>
        <source>Pre-shared key (hex)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="679"/>
        <source>&amp;Pre-shared key (hex)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="686"/>
        <source>Imported fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="687"/>
        <source>Serial</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="687"/>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="687"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="687"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="689"/>
        <source>username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="689"/>
        <source>Hand the fob to</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="691"/>
        <source>&amp;Hand over</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="692"/>
        <source>Hand the selected fob to the person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="695"/>
        <source>Hand the selected fob &amp;to</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="699"/>
        <source>&amp;Import</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="699"/>
        <source>Import the file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="714"/>
        <source>Importing…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="720"/>
        <source>Select a fob first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="723"/>
        <source>Type the username of the person who gets the fob.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="731"/>
        <source>Handing over…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="741"/>
        <source>Imported {n} fobs from {packages} key packages.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="747"/>
        <source>Select each fob and hand it to its person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="750"/>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="751"/>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="758"/>
        <source>Handed {serial} to {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="773"/>
        <source>not handed out</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="167"/>
        <source>Tokenstile sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="326"/>
        <source>Signed out: the card was taken out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="327"/>
        <source>Your session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="490"/>
        <source>Someone else is signed in here: they must sign out first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="503"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="521"/>
        <source>Cancelling…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="529"/>
        <source>Touch your key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="531"/>
        <source>Touch the button or the gold disc on your security key now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="627"/>
        <source>Signed out here, but the sign-in service could not be told: tell the service desk if this keeps happening.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="678"/>
        <source>Reading your key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="679"/>
        <source>Reading your card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="680"/>
        <source>Checking your code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="682"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="831"/>
        <source>Checking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="683"/>
        <source>This takes a moment.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="712"/>
        <source>Tap or insert your security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="714"/>
        <source>Insert your card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="716"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="718"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="796"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="726"/>
        <source>Signed in as %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="730"/>
        <source>Signed in since %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="733"/>
        <source>Session time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="734"/>
        <source>%1 is signed in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="746"/>
        <source>%1 h %2 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="749"/>
        <source>%1 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="750"/>
        <source>%1 s left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="765"/>
        <source>Message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="789"/>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="803"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="804"/>
        <source>Tap it on the reader or plug it in, then touch it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="807"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="807"/>
        <source>Insert your card, then enter its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="810"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="810"/>
        <source>Type your username and the code your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="819"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="903"/>
        <source>Enter a code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="829"/>
        <source>Working</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="834"/>
        <source>Details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="836"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="837"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="871"/>
        <source>Lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="872"/>
        <source>Lock the screen</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="874"/>
        <source>Sign out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="890"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="891"/>
        <source>Locked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="897"/>
        <source>To unlock, use the same key, card or code. Someone else signing in signs them out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="904"/>
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
        <source>Your card&apos;s PIN is blocked: take the card to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="77"/>
        <source>The card was taken out too soon: insert it again to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="81"/>
        <source>The card was reset by another program: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="85"/>
        <source>Another program is using the card: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="89"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="93"/>
        <source>The card could not be read: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="97"/>
        <source>The card could not be found: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="101"/>
        <source>This card cannot sign in here: use your work card, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="105"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="109"/>
        <source>This card has no sign-in certificate: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="113"/>
        <source>This card cannot be read here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="117"/>
        <source>This card cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="121"/>
        <source>A card PIN is 6 to 8 digits: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="125"/>
        <source>The card reader is not working: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="129"/>
        <source>The card reader is not connected: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="133"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="170"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="138"/>
        <source>No security key was found: insert or tap your key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="142"/>
        <source>Your key&apos;s PIN is blocked: take the key to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="146"/>
        <source>Three wrong PINs in a row: take the key out, insert it again and retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="150"/>
        <source>Your key has no PIN yet: see the service desk to set one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="154"/>
        <source>Your key needs its PIN: tap or insert it again and enter the PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="158"/>
        <source>Your key&apos;s fingerprint check is blocked: tap it again and use its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="162"/>
        <source>Your fingerprint was not recognised: tap your key and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="166"/>
        <source>The key was not touched in time: tap or insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="174"/>
        <source>The key was taken away too soon: insert or tap it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="178"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="225"/>
        <source>This key is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="182"/>
        <source>The sign-in was refused on the key: tap it again to retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="186"/>
        <source>This key cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="190"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="194"/>
        <source>The key could not be read: take it out and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="199"/>
        <source>The sign-in service cannot be reached: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="203"/>
        <source>This workstation cannot keep your session (its keychain is not available): see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="208"/>
        <source>You are not signed in: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="213"/>
        <source>The sign-in service is busy: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="221"/>
        <source>This card is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="229"/>
        <source>That username and code do not match: check the code on your fob and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="233"/>
        <source>Sign-in was refused: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="241"/>
        <source>Something went wrong: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="255"/>
        <source>Too many tries: wait %1 seconds, then try again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PeoplePage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="162"/>
        <source>Search by username or name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="164"/>
        <source>Search people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="167"/>
        <source>Show &amp;disabled people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="169"/>
        <source>Show disabled people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="181"/>
        <source>People</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="183"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="184"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="226"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="185"/>
        <source>Role</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="186"/>
        <source>Status</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="187"/>
        <source>Keys</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="188"/>
        <source>Cards</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="189"/>
        <source>Fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="198"/>
        <source>&amp;Add person…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="201"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="453"/>
        <source>D&amp;isable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="203"/>
        <source>&amp;Enroll</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="204"/>
        <source>Enroll a key, card or app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="207"/>
        <source>Security key (FIDO2)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="208"/>
        <source>Smart card (PIV)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="209"/>
        <source>Authenticator app (TOTP)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="215"/>
        <source>&amp;Import fobs (PSKC)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="223"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="385"/>
        <source>Keys, cards and fobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="225"/>
        <source>Kind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="227"/>
        <source>State</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="228"/>
        <source>Enrolled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="229"/>
        <source>Last used</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="230"/>
        <source>Identifier</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="235"/>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="387"/>
        <source>Select a person to see their keys, cards and fobs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="238"/>
        <source>&amp;Revoke</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="240"/>
        <source>Revoke the selected credential</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="319"/>
        <source>Administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="319"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="320"/>
        <source>Active</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="320"/>
        <source>Disabled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="333"/>
        <source>{n} of {total} people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="336"/>
        <source>No one matches “{query}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="338"/>
        <source>No one here yet: add a person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="353"/>
        <source>Added {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="365"/>
        <source>Disable {username}? They can no longer sign in, and their sessions end now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="367"/>
        <source>Disable a person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="369"/>
        <source>Disabled {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="371"/>
        <source>Enabled {username}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="392"/>
        <source>Keys, cards and fobs of {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="394"/>
        <source>{name} has no keys, cards or fobs yet: use Enroll.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="407"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="408"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="409"/>
        <source>One-time codes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="435"/>
        <source>Revoke “{label}” for good? It can no longer be used to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="437"/>
        <source>Revoke</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="441"/>
        <source>Revoked “{label}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="453"/>
        <source>E&amp;nable</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="455"/>
        <source>Disable the person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/people.py" line="455"/>
        <source>Enable the person</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PinPad</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="165"/>
        <source>Enter your PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="168"/>
        <source>PIN hint</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="175"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="176"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="188"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="189"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="208"/>
        <source>Delete the last digit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="213"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="214"/>
        <source>Confirm the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="234"/>
        <source>Enter your card&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="236"/>
        <source>Enter your key&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="242"/>
        <source>Type it here or on your keyboard, then press OK.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>QtDialogs</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="86"/>
        <source>Import a PSKC file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="88"/>
        <source>PSKC files (*.xml *.pskc *.pskcxml);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/environment.py" line="97"/>
        <source>Export the audit log</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SessionsPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="26"/>
        <source>All people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="26"/>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="46"/>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="27"/>
        <source>&amp;Live sessions only</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="29"/>
        <source>Live sessions only</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="32"/>
        <source>Re&amp;fresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="44"/>
        <source>Sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="47"/>
        <source>Client</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="48"/>
        <source>Factor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="49"/>
        <source>Started</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="50"/>
        <source>Last used</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="51"/>
        <source>Ends</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="52"/>
        <source>State</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="56"/>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="118"/>
        <source>No sessions to show.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="59"/>
        <source>&amp;Revoke session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="93"/>
        <source>Revoked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="96"/>
        <source>Revoked ({reason})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="98"/>
        <source>Live (this console)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="100"/>
        <source>Live</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="116"/>
        <source>No live sessions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="128"/>
        <source>End the session of {username} on {client} now?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="131"/>
        <source>Revoke a session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="137"/>
        <source>The session has ended.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/sessions.py" line="139"/>
        <source>That session had already ended.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SignInPage</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="59"/>
        <source>Administrator sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="62"/>
        <source>Sign in with your own security key, smart card or one-time code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="65"/>
        <source>Token service: {server}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="68"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="69"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="70"/>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="98"/>
        <source>One-time code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="83"/>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="86"/>
        <source>Start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="84"/>
        <source>Start the security key sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="87"/>
        <source>Start the smart card sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="91"/>
        <source>Insert or tap your security key, then press Start.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="95"/>
        <source>Insert your smart card, then press Start.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="97"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="98"/>
        <source>6 or 8 digits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="101"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="107"/>
        <source>&amp;Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="107"/>
        <source>&amp;Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="123"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="124"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="125"/>
        <source>Send the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="128"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="183"/>
        <source>Enter your username and the code from your fob or app.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="191"/>
        <source>Checking the code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="200"/>
        <source>Insert or tap your security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="213"/>
        <source>Touch your security key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="224"/>
        <source>Looking for your security key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="248"/>
        <source>Reading your card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="292"/>
        <source>Cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="313"/>
        <source>your security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="313"/>
        <source>your card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="314"/>
        <source>Enter the PIN of {what}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="316"/>
        <source>Enter the PIN of {what} ({n} tries left).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="318"/>
        <source>Wrong PIN. </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/signin.py" line="333"/>
        <source>Checking the PIN…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>StatusLine</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/widgets.py" line="96"/>
        <source>Status</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>_OtpAccount</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="118"/>
        <source>Current one-time code of %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="127"/>
        <source>Seconds the code has left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="130"/>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="144"/>
        <source>Show QR</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="131"/>
        <source>Show the QR code of %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="136"/>
        <source>QR code for an authenticator app</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/demo_panel.py" line="158"/>
        <source>Hide QR</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>_PinRows</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="227"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="228"/>
        <source>The same PIN again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="229"/>
        <source>&amp;Again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="231"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="232"/>
        <source>Send the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="237"/>
        <source>&amp;PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="267"/>
        <source>A key&apos;s PIN has 4 to 63 characters.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/admin/enroll.py" line="270"/>
        <source>The two PINs differ: type them again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
